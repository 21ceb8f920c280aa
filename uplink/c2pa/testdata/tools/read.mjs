// read.mjs: read files' Content Credentials with the official C2PA reader
// (@contentauth/c2pa-wasm: c2pa-rs compiled to WebAssembly), offline.
//
//   node read.mjs FILE [MIME] [TRUST-ANCHORS.pem | none]
//   node read.mjs -        (jobs as JSON on stdin: [{"file", "mime", "anchors"}])
//
// Without anchors the reader does not check the signer's trust (verify_trust
// false); with a PEM file it trusts those anchors only; with "none" it checks
// trust against no anchors at all (what a reader that does not know the dev
// CA reports). Prints, per file, one JSON line: the reader's manifest store
// report (validation state and statuses, the manifests) plus activeLabel, or
// {"error": "..."} when the reader refuses the file outright. Exit status 0
// in both cases; 2 on bad usage. The batch form loads the WebAssembly once.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { initSync, WasmReader } from '@contentauth/c2pa-wasm';

const args = process.argv.slice(2);
let jobs;
if (args[0] === '-') {
  jobs = JSON.parse(readFileSync(0, 'utf8'));
} else if (args[0]) {
  jobs = [{ file: args[0], mime: args[1], anchors: args[2] }];
} else {
  console.error('usage: node read.mjs FILE [MIME] [TRUST-ANCHORS.pem | none]  |  node read.mjs - <jobs.json');
  process.exit(2);
}
const require = createRequire(import.meta.url);
initSync({ module: readFileSync(require.resolve('@contentauth/c2pa-wasm/c2pa.wasm')) });

for (const { file, mime = 'image/jpeg', anchors } of jobs) {
  const settings = { verify: { verify_trust: Boolean(anchors) } };
  if (anchors && anchors !== 'none') settings.trust = { trust_anchors: readFileSync(anchors, 'utf8') };
  try {
    const reader = await WasmReader.fromBytes(mime, new Uint8Array(readFileSync(file)), JSON.stringify(settings));
    const out = JSON.parse(reader.json());
    out.activeLabel = reader.activeLabel();
    reader.free();
    console.log(JSON.stringify(out));
  } catch (e) {
    console.log(JSON.stringify({ error: String(e && e.message ? e.message : e) }));
  }
}
