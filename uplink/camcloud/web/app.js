// The owner's page. Nothing the server says is shown before its signature
// has been checked here against the pinned device key.
import { encode, decode, parseSign1, verifySign1, sign1, deviceIDOf, sha256Hex, hex, equalBytes, checkCanonical } from './cose.js';
import { parseFMP4 } from './mp4.js';
import { checkJPEG, checkMP4, describe } from './c2pa.js';

const MANIFEST_TYPE = 'application/vnd.camagent.manifest.v1+cbor';
const OFFER_TYPE = 'application/vnd.camagent.live-offer.v1+cbor';
const ANSWER_TYPE = 'application/vnd.camagent.live-answer.v1+cbor';
const EVENT_TYPE = 'application/vnd.camagent.event.v1+cbor';
const $ = (id) => document.getElementById(id);
const state = { account: null, token: null, devices: new Map(), spkis: new Map(), events: new Map() };
window.camagent = { liveFrames: 0, videoFrames: 0, videoWidth: 0, clipFramesDrawn: 0, refusals: [] };

function refuse(what, why) {
  const line = `REFUSED ${what}: ${why}`;
  window.camagent.refusals.push(line);
  $('log').textContent = window.camagent.refusals.join('\n');
  console.warn(line);
  return line;
}

async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: { ...(opts.headers || {}), Authorization: 'Bearer ' + state.token } });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${(await r.text()).trim()}`);
  return r;
}

function b64(s) { return Uint8Array.from(atob(s), (c) => c.charCodeAt(0)); }

// --- the owner key: WebCrypto ECDSA P-256, private part non-extractable, in IndexedDB

function idb() {
  return new Promise((ok, bad) => {
    const r = indexedDB.open('camagent', 1);
    r.onupgradeneeded = () => { r.result.createObjectStore('keys'); r.result.createObjectStore('pins'); };
    r.onsuccess = () => ok(r.result); r.onerror = () => bad(r.error);
  });
}
async function idbGet(store, key) {
  const db = await idb();
  return new Promise((ok, bad) => { const r = db.transaction(store).objectStore(store).get(key); r.onsuccess = () => ok(r.result); r.onerror = () => bad(r.error); });
}
async function idbPut(store, key, v) {
  const db = await idb();
  return new Promise((ok, bad) => { const t = db.transaction(store, 'readwrite'); t.objectStore(store).put(v, key); t.oncomplete = () => ok(); t.onerror = () => bad(t.error); });
}

async function ownerKey() {
  let k = await idbGet('keys', 'owner:' + state.account);
  if (!k) {
    k = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
    await idbPut('keys', 'owner:' + state.account, k);
  }
  return k;
}

async function registerKey() {
  const k = await ownerKey();
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', k.publicKey));
  const r = await api('/app/api/owner-key', { method: 'POST', body: spki });
  const j = await r.json();
  $('key-status').textContent = `Registered (key ${hex(spki.subarray(-8))}…); the cloud issued ${j.bindings.length} owner binding(s) naming it ` +
    `and sent ${j.delivered.length} to the device(s) over MQTT; each installs it only if the cloud's pairing key signed it for that device.`;
  window.camagent.keyRegistered = true;
}

// --- devices and their pinned keys

async function pinDevice(d) {
  const spki = b64(d.public_key);
  const id = await deviceIDOf(spki);
  if (id !== d.id) throw new Error(`the key the server gives for ${d.id} is ${id}'s`);
  const pinned = await idbGet('pins', d.id);
  if (pinned && !equalBytes(new Uint8Array(pinned), spki)) throw new Error(`${d.id}'s key differs from the one pinned earlier`);
  if (!pinned) await idbPut('pins', d.id, spki);
  state.spkis.set(d.id, spki);
  return crypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
}

async function loadDevices() {
  const j = await (await api('/app/api/devices')).json();
  $('key-status').textContent = j.browser_key_registered ? 'A browser key is registered for this account.' : 'No browser key registered yet: live view needs one.';
  $('devices').textContent = '';
  $('clips').textContent = '';
  for (const d of j.devices) {
    const li = document.createElement('li');
    li.textContent = d.id + ' ';
    try {
      state.devices.set(d.id, await pinDevice(d));
      const b = document.createElement('button');
      b.textContent = 'Live'; b.className = 'live'; b.dataset.device = d.id;
      b.onclick = () => startLive(d.id).catch((e) => { $('live-status').textContent = refuse('live view of ' + d.id, e.message); });
      li.append(b);
      const st = document.createElement('div'); st.className = 'state'; st.dataset.device = d.id; st.textContent = 'State: no verified event yet.';
      const ev = document.createElement('ul'); ev.className = 'events'; ev.dataset.device = d.id;
      li.append(st, ev);
      state.events.set(d.id, { after: 0, shown: [], refused: new Set() });
      loadEvents(d.id).catch((e) => refuse('events of ' + d.id, e.message));
      loadClips(d.id).catch((e) => refuse('clip list of ' + d.id, e.message));
    } catch (e) {
      li.append(' — ' + refuse('device ' + d.id, e.message));
    }
    $('devices').append(li);
  }
  window.camagent.devicesLoaded = true;
}

// --- events: each COSE_Sign1 must be canonical, verify against the pinned
// key, and name this device and this account (the rules of Go's
// event.Verify and receiver.ReadVerified).

const KINDS = ['motion-start', 'motion-end', 'clip-sealed', 'clip-uploaded', 'retention', 'sd', 'capture-fault',
  'day-night', 'state', 'online', 'offline', 'cmd-result'];
const EVENTS_SHOWN = 20;

async function verifiedEvent(device, cose) {
  const m = parseSign1(cose, EVENT_TYPE);
  checkCanonical(cose, m);
  if (m.kid !== device) throw new Error(`signed as ${m.kid}, not ${device}`);
  if (!(await verifySign1(m, state.devices.get(device)))) throw new Error(`the signature does not verify with ${device}'s pinned key`);
  const p = decode(m.payload), b = p.get(9);
  if (p.get(1) !== 1) throw new Error(`format version ${p.get(1)}`);
  if (p.get(2) !== device) throw new Error(`the event names device ${p.get(2)}`);
  if ((p.get(3) ?? '') !== state.account) throw new Error(`owned by "${p.get(3) ?? ''}", not by ${state.account}`);
  if (!(p.get(4) > 0) || !p.get(5) || !(b instanceof Map) || !KINDS.includes(p.get(8))) throw new Error('not an event of this format');
  return { seq: p.get(4), time: new Date(p.get(6)), clock: p.get(7) === true, kind: p.get(8), b: (k) => b.get(k) };
}

function size(n = 0) {
  for (const [u, s] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]]) if (n >= s) return (n / s).toFixed(1) + ' ' + u;
  return n + ' B';
}
function span(s = 0) { return s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.floor(s / 60) % 60} min` : s >= 60 ? `${Math.floor(s / 60)} min` : `${s} s`; }

// words says what an event means, in plain words.
function words(e) {
  const b = e.b, why = b(11) ? ` — "${b(11)}"` : '';
  const text = {
    'motion-start': () => `motion started (score ${((b(1) || 0) / 1e4).toFixed(1)}%, ${(b(2) || []).length} region(s))`,
    'motion-end': () => 'motion ended',
    'clip-sealed': () => `clip ${b(4)} recorded (${size(b(6))}, ${((b(7) || 0) / 1000).toFixed(1)} s)`,
    'clip-uploaded': () => `clip ${b(4)} uploaded (${size(b(6))})`,
    'retention': () => `deleted ${b(8) || 0} old clip(s), freed ${size(b(9))}`,
    'sd': () => `SD card: ${b(10)}`,
    'capture-fault': () => 'camera capture fault',
    'day-night': () => `switched to ${b(10)} mode`,
    'state': () => `status report: ${stateWords(e)}`,
    'online': () => `came online (up ${span(b(12))})`,
    'offline': () => 'went offline',
    'cmd-result': () => `command ${b(19)}: ${b(10)}`,
  }[e.kind]();
  return text + why;
}

function stateWords(e) {
  const b = e.b;
  return `SD card ${size(b(13))} free of ${size(b(14))}, ${((b(15) || 0) / 1000).toFixed(1)} frames/s, ` +
    `${b(16) || 0} clip(s) waiting to upload, up ${span(b(12))}` + (b(17) ? `, ${b(17)} event(s) dropped` : '');
}

function when(e) { return e.time.toISOString().replace('T', ' ').slice(0, 19) + 'Z' + (e.clock ? '' : ' (camera clock not set)'); }

// loadEvents fetches the device's events after the newest one shown,
// verifies each, and redraws its state and newest EVENTS_SHOWN events.
async function loadEvents(device) {
  const s = state.events.get(device);
  const list = await (await api(`/v1/devices/${device}/events?after=${s.after}&limit=${EVENTS_SHOWN}`)).json();
  for (const it of list.items) {
    try {
      const e = await verifiedEvent(device, b64(it.cose));
      if (e.seq <= s.after || s.shown.some((x) => x.seq === e.seq)) continue;
      s.shown.push(e);
    } catch (err) {
      const line = `event #${it.seq} (${it.kind}) of ${device}`;
      if (!s.refused.has(line + err.message)) { s.refused.add(line + err.message); refuse(line, err.message); }
    }
  }
  s.shown.sort((x, y) => x.seq - y.seq);
  s.shown = s.shown.slice(-EVENTS_SHOWN);
  if (s.shown.length) s.after = s.shown[s.shown.length - 1].seq;
  const ul = document.querySelector(`ul.events[data-device="${device}"]`);
  ul.textContent = '';
  for (const e of s.shown.slice().reverse()) {
    const li = document.createElement('li');
    li.className = 'event verified'; li.dataset.seq = e.seq; li.dataset.kind = e.kind;
    li.textContent = `${when(e)} #${e.seq} ${words(e)}`;
    ul.append(li);
  }
  const last = (kinds) => s.shown.filter((e) => kinds.includes(e.kind)).pop();
  const link = last(['state', 'online', 'offline']), rep = last(['state']);
  if (link) {
    document.querySelector(`.state[data-device="${device}"]`).textContent = `State (verified, ${when(link)}): ` +
      (link.kind === 'offline' ? 'offline' : 'online') + (rep ? '; ' + stateWords(rep) : '') +
      (s.shown[s.shown.length - 1].clock ? '; clock synchronised' : '; clock not set');
  }
  window.camagent.eventsLoaded = (window.camagent.eventsLoaded || 0) + 1;
}

// Poll every device's events while the page is open.
setInterval(() => { for (const d of state.events.keys()) loadEvents(d).catch((e) => refuse('events of ' + d, e.message)); }, 5000);

// --- clips: the manifest must verify against the pinned key, name this
// device and this account; each object must hash to what it signed.

async function verifiedManifest(device, seq) {
  const cose = new Uint8Array(await (await api(`/v1/items/${device}/${seq}/manifest`)).arrayBuffer());
  const m = parseSign1(cose, MANIFEST_TYPE);
  if (m.kid !== device) throw new Error(`signed by ${m.kid}, not ${device}`);
  if (!(await verifySign1(m, state.devices.get(device)))) throw new Error(`the manifest's signature does not verify with ${device}'s pinned key`);
  const p = decode(m.payload);
  if (p.get(2) !== device) throw new Error(`the manifest names device ${p.get(2)}`);
  if (p.get(3) !== state.account) throw new Error(`the manifest names owner "${p.get(3)}", not ${state.account}`);
  if (p.get(4) !== seq) throw new Error(`the manifest is number ${p.get(4)}, listed as ${seq}`);
  const objects = new Map(p.get(9).map((o) => [o.get(1), { type: o.get(2), size: o.get(3), sha256: hex(o.get(4)) }]));
  return { start: p.get(6), end: p.get(7), objects };
}

// fetched collects what was downloaded, for the Content Credentials check.
async function verifiedObject(device, seq, man, role, fetched) {
  const o = man.objects.get(role);
  if (!o) throw new Error(`the manifest covers no ${role}`);
  const buf = await (await api(`/v1/items/${device}/${seq}/${role}`)).arrayBuffer();
  fetched.push({ role, type: o.type, buf });
  if (buf.byteLength !== o.size) throw new Error(`the ${role} is ${buf.byteLength} bytes, the device signed ${o.size}`);
  const h = await sha256Hex(buf);
  if (h !== o.sha256) throw new Error(`the ${role}'s SHA-256 is ${h.slice(0, 16)}…, the device signed ${o.sha256.slice(0, 16)}…`);
  return { buf, type: o.type };
}

// showCredentials checks here (c2pa.js) the Content Credentials inside each
// object fetched, whatever our own check said of it, and shows the verdict
// under it: the two are independent signatures by the same device key.
async function showCredentials(info, device, seq, fetched) {
  const pinned = { key: state.devices.get(device), spki: state.spkis.get(device) };
  for (const { role, type, buf } of fetched) {
    const v = await (type === 'video/mp4' ? checkMP4 : checkJPEG)(new Uint8Array(buf), device, pinned);
    const line = document.createElement('div');
    line.className = 'c2pa ' + v.state; line.dataset.role = role;
    line.textContent = describe(role, v);
    if (v.state === 'invalid') refuse(`the Content Credentials of the ${role} of #${seq} of ${device}`, v.reason);
    info.append(line);
  }
}

async function loadClips(device) {
  const list = await (await api(`/v1/devices/${device}/items?limit=50`)).json();
  for (const it of list.items.slice().reverse()) {
    const row = document.createElement('div');
    row.className = 'clip'; row.dataset.device = device; row.dataset.seq = it.seq;
    const info = document.createElement('div'), status = document.createElement('div');
    status.className = 'status'; info.append(status);
    row.append(info);
    $('clips').append(row);
    if (!it.complete) { status.textContent = `#${it.seq}: not uploaded yet`; continue; }
    const fetched = [];
    try {
      const man = await verifiedManifest(device, it.seq);
      if (!man.objects.has('clip') && man.objects.has('snapshot')) {
        // A snapshot the owner asked for: a JPEG signed like a clip.
        const snap = await verifiedObject(device, it.seq, man, 'snapshot', fetched);
        status.className = 'status verified';
        status.textContent = `#${it.seq} verified snapshot: signed by ${device} for ${state.account}, ${new Date(man.start).toISOString()}`;
        const img = document.createElement('img'); img.src = URL.createObjectURL(new Blob([snap.buf], { type: snap.type })); row.prepend(img);
      } else {
        await showClip(row, status, device, it.seq, man, fetched);
      }
    } catch (e) {
      status.className = 'status refused';
      status.textContent = refuse(`clip #${it.seq} of ${device}`, e.message);
    }
    await showCredentials(info, device, it.seq, fetched);
  }
  window.camagent.clipsLoaded = (window.camagent.clipsLoaded || 0) + 1;
}

// showClip shows a verified clip: its thumbnail and a Play button.
async function showClip(row, status, device, seq, man, fetched) {
  const clip = await verifiedObject(device, seq, man, 'clip', fetched);
  let thumb = null;
  if (man.objects.has('thumbnail')) thumb = await verifiedObject(device, seq, man, 'thumbnail', fetched);
  status.className = 'status verified';
  status.textContent = `#${seq} verified: signed by ${device} for ${state.account}, ${new Date(man.start).toISOString()}`;
  if (thumb) { const img = document.createElement('img'); img.src = URL.createObjectURL(new Blob([thumb.buf], { type: thumb.type })); row.prepend(img); }
  const b = document.createElement('button'); b.textContent = 'Play'; b.className = 'play';
  b.onclick = () => playClip(clip.buf).catch((e) => refuse(`clip #${seq}`, e.message));
  row.append(b);
}

let clipTimers = [];
async function playClip(buf) {
  clipTimers.forEach(clearTimeout); clipTimers = [];
  const mp4 = parseFMP4(new Uint8Array(buf));
  if (mp4.codec === 'mp4v') {
    // MJPEG: draw each JPEG sample on the canvas at its timestamp.
    const cv = $('clip-canvas'); cv.hidden = false; $('clip-video').hidden = true;
    const ctx = cv.getContext('2d');
    const t0 = performance.now();
    for (const s of mp4.samples) {
      const at = (s.time / mp4.timescale) * 1000;
      clipTimers.push(setTimeout(async () => {
        const bmp = await createImageBitmap(new Blob([s.data], { type: 'image/jpeg' }));
        cv.width = bmp.width; cv.height = bmp.height; ctx.drawImage(bmp, 0, 0);
        window.camagent.clipFramesDrawn++;
      }, Math.max(0, at - (performance.now() - t0))));
    }
  } else if (mp4.codec === 'avc1') {
    // H.264: Media Source Extensions take the fragmented MP4 as it is.
    const v = $('clip-video'); v.hidden = false; $('clip-canvas').hidden = true;
    const type = `video/mp4; codecs="${mp4.codecString}"`;
    if (!window.MediaSource || !MediaSource.isTypeSupported(type)) throw new Error('this browser cannot play ' + type);
    const ms = new MediaSource();
    v.src = URL.createObjectURL(ms);
    ms.addEventListener('sourceopen', () => {
      const sb = ms.addSourceBuffer(type);
      sb.addEventListener('updateend', () => { ms.endOfStream(); v.play(); }, { once: true });
      sb.appendBuffer(buf);
    }, { once: true });
    v.addEventListener('timeupdate', () => { window.camagent.clipFramesDrawn++; });
  } else throw new Error('unknown codec ' + mp4.codec);
}

// --- live view: an offer signed by this browser's owner key; an answer that
// must verify against the device's pinned key and carry this offer's nonce.

function sdpFingerprint(sdp) {
  const fps = [...sdp.matchAll(/^a=fingerprint:(\S+) ([0-9A-Fa-f:]+)\r?$/gm)].map((m) => m[1].toLowerCase() + ' ' + m[2].toUpperCase());
  if (fps.length === 0 || fps.some((f) => f !== fps[0])) throw new Error('the answer has no single DTLS fingerprint');
  return fps[0];
}

let livePC = null;
function stopLive() {
  if (livePC) livePC.close();
  livePC = null;
  $('live-stop').hidden = true;
  $('live-status').textContent = 'Not watching.';
}

async function startLive(device) {
  stopLive();
  const key = await ownerKey();
  // The dev cloud's TURN server, when it runs one (the relay only carries
  // bytes: the answer's signature is checked below all the same).
  const ice = await (await api('/app/api/ice')).json();
  const pc = new RTCPeerConnection({ iceServers: ice.ice_servers });
  livePC = pc;
  pc.addTransceiver('video', { direction: 'recvonly' });
  const dc = pc.createDataChannel('live');
  dc.binaryType = 'arraybuffer';
  const cv = $('live-canvas'), ctx = cv.getContext('2d');
  let parts = [];
  // What arrived on the data channel, for a test (or an owner) to see which
  // stage stalls: chunks and bytes received, pictures completed, pictures
  // the browser could not decode.
  const stats = { chunks: 0, bytes: 0, pictures: 0, undecodable: 0, channel: 'connecting' };
  window.camagent.liveStats = stats;
  dc.onopen = () => { stats.channel = 'open'; };
  dc.onclose = () => { stats.channel = 'closed'; };
  dc.onmessage = async (ev) => {
    const b = new Uint8Array(ev.data);
    stats.chunks++; stats.bytes += b.length;
    parts.push(b.subarray(1));
    if (!(b[0] & 1)) return;
    const blob = new Blob(parts, { type: 'image/jpeg' }); parts = [];
    stats.pictures++;
    let bmp;
    try {
      bmp = await createImageBitmap(blob);
    } catch (e) {
      stats.undecodable++;
      return;
    }
    cv.width = bmp.width; cv.height = bmp.height; ctx.drawImage(bmp, 0, 0);
    window.camagent.liveFrames++;
  };
  pc.ontrack = (ev) => {
    const v = $('live-video'); v.hidden = false; cv.hidden = true; v.srcObject = new MediaStream([ev.track]);
    // Count the frames the browser decoded and presented (H.264 track).
    const presented = (_, meta) => {
      window.camagent.videoFrames = meta.presentedFrames; window.camagent.videoWidth = v.videoWidth;
      if (livePC === pc) v.requestVideoFrameCallback(presented);
    };
    v.requestVideoFrameCallback(presented);
  };
  pc.onconnectionstatechange = () => { window.camagent.liveState = pc.connectionState; };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((ok) => {
    if (pc.iceGatheringState === 'complete') return ok();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && ok());
    setTimeout(ok, 5000);
  });
  const nonce = crypto.getRandomValues(new Uint8Array(32));
  const now = Date.now();
  const payload = encode(new Map([[1, 1], [2, device], [3, nonce], [4, now], [5, now + 60000], [6, pc.localDescription.sdp]]));
  const offer = await sign1(key.privateKey, OFFER_TYPE, payload);
  $('live-status').textContent = 'Offer signed with this browser\'s key; waiting for the camera…';
  const answerBytes = new Uint8Array(await (await api(`/app/api/live/${device}/offer`, { method: 'POST', body: offer })).arrayBuffer());
  const a = parseSign1(answerBytes, ANSWER_TYPE);
  if (a.kid !== device) throw new Error(`the answer is signed as ${a.kid}, not ${device}`);
  if (!(await verifySign1(a, state.devices.get(device)))) throw new Error(`the answer's signature does not verify with ${device}'s pinned key`);
  const p = decode(a.payload);
  if (p.get(2) !== device) throw new Error(`the answer names device ${p.get(2)}`);
  if (!(p.get(4) instanceof Uint8Array) || !equalBytes(p.get(4), nonce)) throw new Error('the answer is for another offer (nonce differs)');
  if (p.get(8)) throw new Error('the camera refused: ' + p.get(8));
  if (sdpFingerprint(p.get(6)) !== p.get(7)) throw new Error('the signed DTLS fingerprint is not the answer SDP\'s');
  // For diagnosis: where each side said it can be reached.
  window.camagent.liveCandidates = { viewer: pc.localDescription.sdp.match(/a=candidate:.*/g) || [],
    camera: p.get(6).match(/a=candidate:.*/g) || [] };
  await pc.setRemoteDescription({ type: 'answer', sdp: p.get(6) });
  if (p.get(5) === 'jpeg') { cv.hidden = false; $('live-video').hidden = true; }
  $('live-status').textContent = `Live from ${device} (answer signed by its pinned key; ${p.get(5)}).`;
  $('live-stop').hidden = false;
}

// --- sign in

async function signIn(account, token) {
  state.account = account; state.token = token;
  await loadDevices();
  sessionStorage.setItem('camagent', JSON.stringify({ account, token }));
  $('who').textContent = account;
  $('signin-box').hidden = true; $('main').hidden = false;
}

$('signin').onclick = () => signIn($('account').value.trim(), $('token').value.trim()).catch((e) => refuse('sign-in', e.message));
$('signout').onclick = () => { sessionStorage.removeItem('camagent'); location.reload(); };
$('register-key').onclick = () => registerKey().catch((e) => refuse('key registration', e.message));
$('live-stop').onclick = stopLive;
const saved = JSON.parse(sessionStorage.getItem('camagent') || 'null');
if (saved) signIn(saved.account, saved.token).catch((e) => refuse('sign-in', e.message));
