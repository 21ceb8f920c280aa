// Content Credentials (C2PA), checked in the page: the manifest store in a
// JPEG's APP11 segments or in a clip's C2PA uuid box, the claim's COSE_Sign1
// ES256 signature verified with WebCrypto against the device key this page
// pinned (the certificate in x5chain must carry that very key and name the
// device), and the hashes over the picture, or over the clip's init segment
// and each of its fragments (the Merkle leaves). It reads the layout
// camagent's cameras write (package uplink/c2pa); anything else is reported
// as invalid, never as valid. The page does not judge the certificate's
// issuer: the pinned key is the trust.
import { decode, verifySign1, ES256, equalBytes } from './cose.js';
import { boxes } from './mp4.js';

const td = new TextDecoder('utf-8', { fatal: true });
// JUMBF description types: four ASCII bytes, then the ISO suffix.
const ISO = [0x00, 0x11, 0x00, 0x10, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];
// The extended type of a C2PA ContentProvenanceBox ('uuid') in an MP4.
const PROVENANCE = Uint8Array.from([0xd8, 0xfe, 0xc3, 0xd6, 0x1b, 0x0e, 0x48, 0x3c, 0x92, 0x97, 0x58, 0x28, 0x87, 0x7e, 0xc4, 0x81]);
const MAX_DEPTH = 6, MAX_CHILDREN = 64, MAX_TOP_BOXES = 1 << 16;

// A check failed: the credentials do not hold (message = the reason).
class Invalid extends Error {}
const fail = (why) => { throw new Invalid(why); };

const sha256 = async (...parts) => {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { all.set(p, o); o += p.length; }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', all));
};
const u64 = (n) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(n)); return b; };

// --- JUMBF (ISO/IEC 19566-5) superboxes

function superbox(b, box, depth) {
  if (box.type !== 'jumb') fail(`box ${box.type} where a JUMBF superbox belongs`);
  if (depth > MAX_DEPTH) fail('JUMBF nested too deep');
  const [desc, ...inner] = boxes(b, box.body, box.end);
  if (!desc || desc.type !== 'jumd' || desc.end - desc.body < 17) fail('JUMBF superbox without a description');
  const d = b.subarray(desc.body, desc.end);
  const kind = equalBytes(d.subarray(4, 16), ISO) ? String.fromCharCode(...d.subarray(0, 4)) : '';
  let label = '';
  if (d[16] & 2) {
    const nul = d.indexOf(0, 17);
    if (nul < 0) fail('JUMBF label not terminated');
    label = td.decode(d.subarray(17, nul));
  }
  if (inner.length > MAX_CHILDREN) fail('too many boxes in ' + label);
  const j = { kind, label, payload: b.subarray(box.body, box.end), children: [], cbor: null };
  for (const c of inner) {
    if (c.type === 'jumb') j.children.push(superbox(b, c, depth + 1));
    else if (c.type === 'cbor') j.cbor = b.subarray(c.body, c.end);
  }
  return j;
}
const child = (j, label) => j.children.find((c) => c.label === label);
const cborOf = (j, what) => {
  if (!j || !j.cbor) fail(`the manifest has no ${what}`);
  try { return decode(j.cbor); } catch (e) { fail(`${what}: ${e.message}`); }
};

// --- X.509 DER: the few fields the page shows or checks

function der(b, i, end) {
  if (i + 2 > end) fail('certificate: truncated');
  let len = b[i + 1], p = i + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 3 || p + n > end) fail('certificate: bad length');
    len = 0;
    for (let k = 0; k < n; k++) len = len * 256 + b[p++];
  }
  if (p + len > end) fail('certificate: truncated');
  return { tag: b[i], start: i, body: p, end: p + len };
}
function ders(b, el) {
  const out = [];
  for (let i = el.body; i < el.end; i = out[out.length - 1].end) out.push(der(b, i, el.end));
  return out;
}
const OID_CN = [0x55, 0x04, 0x03]; // 2.5.4.3
function commonName(b, name) {
  for (const rdn of ders(b, name)) {
    for (const atv of ders(b, rdn)) {
      const [oid, val] = ders(b, atv);
      if (oid && val && equalBytes(b.subarray(oid.body, oid.end), OID_CN)) return td.decode(b.subarray(val.body, val.end));
    }
  }
  return '';
}
function derTime(b, t) {
  const s = td.decode(b.subarray(t.body, t.end));
  const m = (t.tag === 0x17 ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/ : /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/).exec(s);
  if (!m) fail('certificate: bad time ' + s);
  const y = t.tag === 0x17 ? (+m[1] < 50 ? 2000 : 1900) + +m[1] : +m[1];
  return new Date(Date.UTC(y, m[2] - 1, m[3], m[4], m[5], m[6]));
}
function certificate(b) {
  const cert = der(b, 0, b.length);
  if (cert.tag !== 0x30 || cert.end !== b.length) fail('certificate: not one DER SEQUENCE');
  let f = ders(b, ders(b, cert)[0]);
  if (f[0].tag === 0xa0) f = f.slice(1); // version
  const [, , issuer, validity, subject, spki] = f;
  if (!spki) fail('certificate: too few fields');
  const [nb, na] = ders(b, validity);
  return { issuer: commonName(b, issuer), subject: commonName(b, subject), spki: b.subarray(spki.start, spki.end),
    notBefore: derTime(b, nb), notAfter: derTime(b, na) };
}

// --- the manifest: who signed, what, and the hash assertion to check

async function checkStore(store, hashLabel, device, pinned) {
  const top = boxes(store, 0, store.length);
  if (top.length !== 1) fail('the manifest store is not one JUMBF box');
  const root = superbox(store, top[0], 0);
  if (root.kind !== 'c2pa' || root.label !== 'c2pa') fail('not a C2PA manifest store');
  const man = root.children.filter((c) => c.kind === 'c2ma').pop(); // the active manifest is the last
  if (!man) fail('no manifest in the store');
  const assertions = child(man, 'c2pa.assertions');
  const claimBox = child(man, 'c2pa.claim.v2'), sigBox = child(man, 'c2pa.signature');
  if (!assertions || !claimBox || !sigBox || assertions.kind !== 'c2as' || claimBox.kind !== 'c2cl' || sigBox.kind !== 'c2cs') fail('the manifest lacks its assertions, c2pa.claim.v2 or c2pa.signature');
  const claim = cborOf(claimBox, 'claim');
  const sigRef = claim.get('signature');
  if (sigRef !== `self#jumbf=/c2pa/${man.label}/c2pa.signature` && sigRef !== 'self#jumbf=c2pa.signature') fail('the claim names another signature than its own');

  // Who signed: the certificate must carry this camera's pinned key and name it.
  const cose = cborOf(sigBox, 'signature');
  if (!cose || cose.tag !== 18 || !Array.isArray(cose.value) || cose.value.length !== 4) fail('the signature is not a COSE_Sign1');
  const [prot, , , sig] = cose.value;
  if (!(prot instanceof Uint8Array) || !(sig instanceof Uint8Array) || sig.length !== 64) fail('malformed COSE_Sign1');
  const hdr = decode(prot);
  if (hdr.get(1) !== ES256) fail('the signature is not ES256');
  const x5 = hdr.get(33);
  const chain = x5 instanceof Uint8Array ? [x5] : x5;
  if (!Array.isArray(chain) || chain.length === 0 || !(chain[0] instanceof Uint8Array)) fail('no x5chain certificate in the signature');
  const leaf = certificate(chain[0]);
  if (!equalBytes(leaf.spki, pinned.spki)) fail(`signed by the key of "${leaf.subject}", not by ${device}'s pinned key`);
  if (leaf.subject !== device) fail(`the signing certificate names "${leaf.subject}", not ${device}`);
  if (!(await verifySign1({ protectedBytes: prot, payload: claimBox.cbor, signature: sig }, pinned.key))) fail('the claim signature does not verify with the pinned key');
  const now = new Date();
  if (now < leaf.notBefore || now > leaf.notAfter) fail(`the signing certificate is valid from ${leaf.notBefore.toISOString()} to ${leaf.notAfter.toISOString()} only, and there is no trusted time-stamp`);

  // What was signed: each assertion by its hash in the claim.
  const named = new Map();
  for (const h of claim.get('created_assertions') || []) {
    const url = h.get('url') || '';
    const label = url.replace(/^self#jumbf=(\/c2pa\/[^/]+\/)?c2pa\.assertions\//, '');
    const box = label !== url && child(assertions, label);
    if (!box) fail(`the claim names assertion ${url}, which is not in the manifest`);
    if (!equalBytes(await sha256(box.payload), h.get('hash'))) fail(`the assertion ${label} changed after signing`);
    named.set(label, box);
  }
  const get = (label) => { if (!named.has(label)) fail(`the claim names no ${label} assertion`); return cborOf(named.get(label), label); };
  const capture = get('com.camagent.capture');
  if (capture.get('device') !== device) fail(`the capture assertion names device ${capture.get('device')}, not ${device}`);
  const action = (get('c2pa.actions.v2').get('actions') || [])[0];
  if (!action || action.get('action') !== 'c2pa.created') fail('the first action is not c2pa.created');
  return { signer: leaf.subject, issuer: leaf.issuer, device, captured: capture.get('captured'),
    source: (action.get('digitalSourceType') || '').split('/').pop(), hash: get(hashLabel) };
}

// result wraps a check: valid (with what the manifest says), invalid (with
// the reason), or none (no manifest store at all).
async function result(check) {
  try {
    return { state: 'valid', ...(await check()) };
  } catch (e) {
    if (e.none) return { state: 'none' };
    return { state: 'invalid', reason: e instanceof Invalid ? e.message : 'unreadable: ' + e.message };
  }
}
const none = () => Object.assign(new Error('no manifest store'), { none: true });

// --- JPEG: the store in APP11 (JPEG XT) segments; c2pa.hash.data over the
// file except the span of those segments.

function app11Store(b) {
  if (b[0] !== 0xff || b[1] !== 0xd8) fail('not a JPEG');
  const parts = [];
  let i = 2, start = 0, end = 0, seq = 0, en = 0;
  for (;;) {
    if (i + 4 > b.length || b[i] !== 0xff) fail(`not a JPEG: no marker at ${i}`);
    const m = b[i + 1];
    if (m === 0xff) { i++; continue; }
    if (m === 0xda || m === 0xd9) break;
    const next = i + 2 + ((b[i + 2] << 8) | b[i + 3]);
    if (next > b.length || next < i + 4) fail(`JPEG segment at ${i} runs past the end`);
    const seg = b.subarray(i + 4, next);
    if (m === 0xeb && seg.length >= 16 && seg[0] === 0x4a && seg[1] === 0x50) { // APP11 "JP"
      const sEn = (seg[2] << 8) | seg[3], sSeq = new DataView(seg.buffer, seg.byteOffset).getUint32(4), body = seg.subarray(8);
      if (seq === 0 && sSeq === 1 && String.fromCharCode(...body.subarray(4, 8)) === 'jumb') {
        seq = 1; en = sEn; start = i; end = next; parts.push(body);
      } else if (seq > 0 && sEn === en) {
        if (i !== end) fail('the APP11 segments of the manifest store are not adjacent');
        if (sSeq !== seq + 1 || !equalBytes(body.subarray(0, 8), parts[0].subarray(0, 8))) fail(`APP11 segment ${sSeq} out of order`);
        seq = sSeq; end = next; parts.push(body.subarray(8));
      }
    }
    i = next;
  }
  if (seq === 0) throw none();
  const store = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { store.set(p, o); o += p.length; }
  return { store, start, end };
}

export function checkJPEG(img, device, pinned) {
  return result(async () => {
    const { store, start, end } = app11Store(img);
    const c = await checkStore(store, 'c2pa.hash.data', device, pinned);
    const ex = c.hash.get('exclusions') || [];
    if (c.hash.get('alg') !== 'sha256' || ex.length !== 1 || ex[0].get('start') !== start || ex[0].get('length') !== end - start) fail(`c2pa.hash.data does not exclude exactly the manifest's APP11 segments [${start}, ${end})`);
    if (!equalBytes(await sha256(img.subarray(0, start), img.subarray(end)), c.hash.get('hash'))) fail('the picture changed after signing (c2pa.hash.data does not match)');
    delete c.hash;
    return c;
  });
}

// --- fragmented MP4: the store in the C2PA uuid box after ftyp;
// c2pa.hash.bmff.v3 with one Merkle map: the init segment's hash and a leaf
// per fragment (moof up to the next moof), each top-level box hashed after
// its file offset; ftyp, mfra and the C2PA boxes are excluded. A Merkle box
// after each fragment names its leaf.

const isProvenance = (b, x) => x.type === 'uuid' && x.body + 16 <= x.end && equalBytes(b.subarray(x.body, x.body + 16), PROVENANCE);
const cstring = (b, at, s) => equalBytes(b.subarray(at, at + s.length + 1), Uint8Array.from([...s].map((c) => c.charCodeAt(0)).concat(0)));

export function checkMP4(b, device, pinned) {
  return result(async () => {
    const top = boxes(b, 0, b.length);
    if (top.length > MAX_TOP_BOXES) fail('too many boxes');
    if (!top.length || top[0].type !== 'ftyp') fail('not an MP4 (no ftyp)');
    let store = null;
    const init = [], frags = [], proofs = [];
    for (const x of top.slice(1)) {
      if (isProvenance(b, x)) {
        const p = x.body + 16 + 4; // extended type, FullBox version and flags
        if (cstring(b, p, 'manifest')) {
          if (store) fail('two manifest stores');
          store = b.subarray(p + 9 + 8, x.end); // purpose, offset of the first Merkle box
        } else if (cstring(b, p, 'merkle')) proofs.push(decode(b.subarray(p + 7, x.end)));
        else fail(`a C2PA box at ${x.start} of a purpose this page does not read`);
      } else if (x.type === 'moof') frags.push([x]);
      else if (x.type === 'mfra' || x.type === 'ftyp') continue;
      else (frags.length ? frags[frags.length - 1] : init).push(x);
    }
    if (!store) throw none();
    const c = await checkStore(store, 'c2pa.hash.bmff.v3', device, pinned);
    const ex = (c.hash.get('exclusions') || []).map((e) => e.get('xpath') + (e.get('data') || []).map((d) => `@${d.get('offset')}=${[...d.get('value')].join('.')}`).join(''));
    const maps = c.hash.get('merkle') || [], mm = maps[0];
    if (c.hash.get('alg') !== 'sha256' || ex.join(' ') !== `/uuid@8=${PROVENANCE.join('.')} /ftyp /mfra` || maps.length !== 1 ||
      !Array.isArray(mm.get('hashes')) || mm.get('count') !== mm.get('hashes').length) fail('c2pa.hash.bmff.v3 is not the Merkle form this page reads');
    const n = mm.get('count');
    if (frags.length !== n || proofs.length !== n) fail(`the clip has ${frags.length} fragments and ${proofs.length} Merkle boxes, the camera signed ${n}`);
    const hash = (list) => sha256(...list.flatMap((x) => [u64(x.start), b.subarray(x.start, x.end)]));
    if (!equalBytes(await hash(init), mm.get('initHash'))) fail('the init segment (moov) changed after signing');
    const bad = [];
    for (let i = 0; i < n; i++) {
      const loc = proofs[i].get('location');
      if (loc !== i || proofs[i].get('uniqueId') !== mm.get('uniqueId') || proofs[i].get('localId') !== mm.get('localId')) fail(`fragment ${i} carries Merkle leaf ${loc}: fragments were moved`);
      if (!equalBytes(await hash(frags[i]), mm.get('hashes')[i])) bad.push(`${i} (at byte ${frags[i][0].start})`);
    }
    if (bad.length) fail(`fragment ${bad.join(', ')} of ${n} changed after signing (its Merkle leaf does not match)`);
    delete c.hash;
    return { ...c, fragments: n };
  });
}

// describe says a verdict in a line.
export function describe(what, v) {
  if (v.state === 'none') return `No Content Credentials in the ${what}.`;
  if (v.state === 'invalid') return `Content Credentials of the ${what}: INVALID — ${v.reason}.`;
  const frags = v.fragments !== undefined ? `, all ${v.fragments} fragments match` : '';
  return `Content Credentials of the ${what}: valid — signed by ${v.signer} (its certificate, from ${v.issuer || 'an unnamed issuer'}, ` +
    `carries this camera's pinned key), device ${v.device}, captured ${v.captured}, ${v.source || 'source not stated'}${frags}; ` +
    'no trusted time-stamp (the time is the camera\'s own statement).';
}
