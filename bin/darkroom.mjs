#!/usr/bin/env node
// Runs the build in dist/ (`npm run build`; npm install makes it) when no source it was built from has
// changed since; otherwise, or with DARKROOM_FROM_SOURCES=1 (the tests), the TypeScript sources through
// tsx: a clone without a build and a developer's unbuilt edits both run as they are, only slower to start.
import { readFileSync, statSync } from 'node:fs';

const root = new URL('../', import.meta.url);

function buildIsCurrent() {
  if (process.env.DARKROOM_FROM_SOURCES === '1') return false;
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(new URL('dist/inputs.json', root), 'utf8'));
  } catch {
    return false;
  }
  if (!Array.isArray(stamp?.inputs) || typeof stamp.began !== 'number') return false;
  // A source that is gone changed the ones that imported it; a package without sources has only the build.
  return stamp.inputs.every((file) => (statSync(new URL(file, root), { throwIfNoEntry: false })?.mtimeMs ?? 0) < stamp.began);
}

if (buildIsCurrent()) {
  await import('../dist/darkroom.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
