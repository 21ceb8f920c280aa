// read.mjs: read a file's Content Credentials with the official C2PA reader
// (@contentauth/c2pa-wasm, c2pa-rs compiled to WebAssembly), offline.
//
//   node read.mjs FILE [MIME] [TRUST-ANCHORS.pem | none]
//
// Without a third argument the reader does not check the signer's trust
// (verify_trust false); with a PEM file it trusts those anchors only; with
// "none" it checks trust against no anchors at all (what a reader that does
// not know the dev CA reports).
//
// Prints one JSON object: the reader's manifest store report (validation
// state and statuses, the active manifest) or {"error": "..."} when the reader
// refuses the file outright. Exit status 0 in both cases; 2 on bad usage.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { initSync, WasmReader } from '@contentauth/c2pa-wasm';

const [file, mime = 'image/jpeg', anchors] = process.argv.slice(2);
if (!file) {
  console.error('usage: node read.mjs FILE [MIME] [TRUST-ANCHORS.pem | none]');
  process.exit(2);
}
const require = createRequire(import.meta.url);
initSync({ module: readFileSync(require.resolve('@contentauth/c2pa-wasm/c2pa.wasm')) });

const settings = { verify: { verify_trust: Boolean(anchors) } };
if (anchors && anchors !== 'none') settings.trust = { trust_anchors: readFileSync(anchors, 'utf8') };

try {
  const reader = await WasmReader.fromBytes(mime, new Uint8Array(readFileSync(file)), JSON.stringify(settings));
  const out = JSON.parse(reader.json());
  out.activeLabel = reader.activeLabel();
  console.log(JSON.stringify(out));
} catch (e) {
  console.log(JSON.stringify({ error: String(e && e.message ? e.message : e) }));
}
