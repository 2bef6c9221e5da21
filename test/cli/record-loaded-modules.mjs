// Preloaded with `node --import` by build.test.ts: at exit, writes the CommonJS modules the process
// loaded (onnxruntime-node, sharp, better-sqlite3 and commander are CommonJS, imported from ESM or not)
// as JSON to the file named by LOADED_MODULES_FILE.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const cache = createRequire(import.meta.url).cache;
process.on('exit', () => writeFileSync(process.env.LOADED_MODULES_FILE, JSON.stringify(Object.keys(cache))));
