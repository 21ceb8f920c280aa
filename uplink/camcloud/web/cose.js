// CBOR (the subset camagent signs: RFC 8949 core deterministic encoding),
// COSE_Sign1 with ES256 (RFC 9052), and device IDs. Plain ES module, no
// dependencies: the page verifies every signature itself with WebCrypto.

const te = new TextEncoder();
const td = new TextDecoder('utf-8', { fatal: true });

function head(major, n) {
  const m = major << 5;
  if (n < 24) return [m | n];
  if (n < 0x100) return [m | 24, n];
  if (n < 0x10000) return [m | 25, n >> 8, n & 0xff];
  if (n < 0x100000000) return [m | 26, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  const hi = Math.floor(n / 0x100000000), lo = n >>> 0;
  return [m | 27, (hi >>> 24) & 0xff, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff,
    (lo >>> 24) & 0xff, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff];
}

// encode writes v as CBOR. Maps are JS Maps whose keys the caller gives in
// canonical order (small non-negative integers, ascending).
export function encode(v) {
  const out = [];
  const put = (x) => {
    if (typeof x === 'number') {
      if (!Number.isSafeInteger(x)) throw new Error('cbor: not a safe integer');
      out.push(...(x >= 0 ? head(0, x) : head(1, -1 - x)));
    } else if (typeof x === 'string') {
      const b = te.encode(x); out.push(...head(3, b.length)); for (const c of b) out.push(c);
    } else if (x instanceof Uint8Array) {
      out.push(...head(2, x.length)); for (const c of x) out.push(c);
    } else if (Array.isArray(x)) {
      out.push(...head(4, x.length)); x.forEach(put);
    } else if (x instanceof Map) {
      out.push(...head(5, x.size)); for (const [k, val] of x) { put(k); put(val); }
    } else if (typeof x === 'boolean') {
      out.push(x ? 0xf5 : 0xf4);
    } else if (x && x.tag !== undefined) {
      out.push(...head(6, x.tag)); put(x.value);
    } else throw new Error('cbor: cannot encode ' + typeof x);
  };
  put(v);
  return new Uint8Array(out);
}

// decode reads one CBOR item that must fill b exactly. Limits: nesting 8,
// lengths bounded by the input.
export function decode(b) {
  let i = 0;
  const need = (n) => { if (i + n > b.length) throw new Error('cbor: truncated'); };
  const arg = (ai) => {
    if (ai < 24) return ai;
    const n = { 24: 1, 25: 2, 26: 4, 27: 8 }[ai];
    if (!n) throw new Error('cbor: indefinite or reserved length');
    need(n);
    let v = 0;
    for (let k = 0; k < n; k++) v = v * 256 + b[i++];
    if (!Number.isSafeInteger(v)) throw new Error('cbor: integer too large');
    return v;
  };
  const item = (depth) => {
    if (depth > 8) throw new Error('cbor: nested too deep');
    need(1);
    const ib = b[i++], major = ib >> 5, ai = ib & 31;
    if (major === 7) {
      if (ai === 20) return false;
      if (ai === 21) return true;
      if (ai === 22) return null;
      throw new Error('cbor: unsupported simple value');
    }
    const n = arg(ai);
    switch (major) {
      case 0: return n;
      case 1: return -1 - n;
      case 2: need(n); i += n; return b.slice(i - n, i);
      case 3: need(n); i += n; return td.decode(b.subarray(i - n, i));
      case 4: { if (n > b.length - i) throw new Error('cbor: array too long'); const a = []; for (let k = 0; k < n; k++) a.push(item(depth + 1)); return a; }
      case 5: {
        if (n > b.length - i) throw new Error('cbor: map too long');
        const m = new Map();
        for (let k = 0; k < n; k++) { const key = item(depth + 1); if (m.has(key)) throw new Error('cbor: duplicate key'); m.set(key, item(depth + 1)); }
        return m;
      }
      case 6: return { tag: n, value: item(depth + 1) };
    }
  };
  const v = item(0);
  if (i !== b.length) throw new Error('cbor: trailing bytes');
  return v;
}

export const ES256 = -7;
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

function bytesToBig(b) { let v = 0n; for (const c of b) v = (v << 8n) | BigInt(c); return v; }
function bigTo32(v) { const o = new Uint8Array(32); for (let k = 31; k >= 0; k--) { o[k] = Number(v & 0xffn); v >>= 8n; } return o; }

// parseSign1 checks the structure of a COSE_Sign1 and returns its parts; it
// does not verify anything.
export function parseSign1(bytes, contentType) {
  let v;
  try { v = decode(bytes); } catch (e) { throw new Error('not CBOR: ' + e.message); }
  if (!v || v.tag !== 18 || !Array.isArray(v.value) || v.value.length !== 4) throw new Error('not a COSE_Sign1');
  const [prot, unprot, payload, sig] = v.value;
  if (!(prot instanceof Uint8Array) || !(unprot instanceof Map) || !(payload instanceof Uint8Array) || !(sig instanceof Uint8Array)) throw new Error('malformed COSE_Sign1');
  if (sig.length !== 64) throw new Error('signature is not 64 bytes');
  const h = decode(prot);
  if (h.get(1) !== ES256) throw new Error('algorithm is not ES256');
  if (h.get(3) !== contentType) throw new Error(`content type ${h.get(3)}, want ${contentType}`);
  const kid = h.get(4);
  return { protectedBytes: prot, payload, signature: sig, kid: kid instanceof Uint8Array ? td.decode(kid) : null };
}

function sigStructure(prot, payload) {
  return encode(['Signature1', prot, new Uint8Array(0), payload]);
}

// verifySign1 verifies the signature with a WebCrypto ECDSA P-256 public key
// (COSE signatures are raw r||s, which is what WebCrypto takes).
export async function verifySign1(parsed, publicKey) {
  return crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, publicKey, parsed.signature,
    sigStructure(parsed.protectedBytes, parsed.payload));
}

// sign1 signs payload with a WebCrypto private key: protected header
// {1: ES256, 3: contentType}, empty unprotected header, low-s signature (the
// canonical form the device requires).
export async function sign1(privateKey, contentType, payload) {
  const prot = encode(new Map([[1, ES256], [3, contentType]]));
  const raw = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, sigStructure(prot, payload)));
  const s = bytesToBig(raw.subarray(32));
  if (s > P256_N >> 1n) raw.set(bigTo32(P256_N - s), 32);
  return encode({ tag: 18, value: [prot, new Map(), payload, raw] });
}

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';
function base32(b) {
  let out = '', bits = 0, val = 0;
  for (const c of b) { val = (val << 8) | c; bits += 8; while (bits >= 5) { out += B32[(val >>> (bits - 5)) & 31]; bits -= 5; } }
  if (bits > 0) out += B32[(val << (5 - bits)) & 31];
  return out;
}

// deviceIDOf recomputes a device ID from its public key (SPKI DER):
// "cam-" + base32(SHA-256(SPKI)[:20]). No table maps IDs to keys.
export async function deviceIDOf(spki) {
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256', spki));
  return 'cam-' + base32(h.subarray(0, 20));
}

export async function sha256Hex(buf) {
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
  return Array.from(h, (c) => c.toString(16).padStart(2, '0')).join('');
}

export function hex(b) { return Array.from(b, (c) => c.toString(16).padStart(2, '0')).join(''); }

export function equalBytes(a, b) { return a.length === b.length && a.every((c, k) => c === b[k]); }

// checkCanonical throws unless bytes are the one canonical encoding of a
// COSE_Sign1 (shortest heads, map keys ascending, low-s signature), the
// form the Go side (envelope.Parse, DecodeStrict) requires of every event.
export function checkCanonical(bytes, parsed) {
  const sorted = (v) => {
    if (v instanceof Map) {
      let prev = -1;
      for (const [k, x] of v) { if (typeof k !== 'number' || k <= prev) throw new Error('map keys not in canonical order'); prev = k; sorted(x); }
    } else if (Array.isArray(v)) v.forEach(sorted);
    else if (v && v.tag !== undefined) sorted(v.value);
  };
  for (const b of [bytes, parsed.protectedBytes, parsed.payload]) {
    const v = decode(b);
    sorted(v);
    if (!equalBytes(encode(v), b)) throw new Error('not in canonical CBOR form');
  }
  if (decode(bytes).value[1].size !== 0) throw new Error('the unprotected header is not empty');
  if (bytesToBig(parsed.signature.subarray(32)) > P256_N >> 1n) throw new Error('signature s is not low');
}
