#!/usr/bin/env node
/**
 * `npm run build` (and npm install's `prepare`): bundles the CLI into dist/ with esbuild, so
 * `darkroom` starts without transpiling TypeScript. Packages stay external (node_modules); code
 * splitting keeps each command's heavy modules (onnxruntime, sharp, the database) in chunks that load
 * only when the command runs. dist/inputs.json lists the sources and when the build began:
 * bin/darkroom.mjs runs the sources instead when one of them is newer.
 *
 * `node scripts/build.mjs --outdir <dir>` builds elsewhere (the test's build); the folder must sit
 * under the repository for the external packages to resolve from node_modules.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { outdir: { type: 'string', default: join(root, 'dist') } } });
const outdir = resolve(values.outdir);

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  // A production install (--omit=dev) has no esbuild: bin/darkroom.mjs runs the sources through tsx.
  process.stderr.write('build: esbuild is not installed; darkroom will run its TypeScript sources\n');
  process.exit(0);
}

/**
 * Every output file lies directly in outdir, so a source's `import.meta.url` (used to find models/,
 * web/ and package.json relative to the source) becomes the source's own URL, reached from there.
 */
const sourceMetaUrl = {
  name: 'source-import-meta-url',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async ({ path }) => {
      const text = await readFile(path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const fromOutput = relative(outdir, path).split(sep).join('/');
      return { contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(fromOutput)}, import.meta.url).href`), loader: 'ts' };
    });
  },
};

const began = Date.now();
await rm(outdir, { recursive: true, force: true });
const { metafile } = await esbuild.build({
  absWorkingDir: root,
  entryPoints: { darkroom: 'src/cli/main.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  chunkNames: 'chunk-[hash]',
  // Bundling renames clashing top-level names; error classes and the like keep theirs.
  keepNames: true,
  metafile: true,
  plugins: [sourceMetaUrl],
  logLevel: 'warning',
});
const inputs = Object.keys(metafile.inputs).sort();
await writeFile(join(outdir, 'inputs.json'), `${JSON.stringify({ began, inputs }, null, 1)}\n`);
process.stderr.write(`build: ${relative(root, outdir) || outdir} from ${inputs.length} sources in ${Date.now() - began} ms\n`);
