/**
 * The engine knows no dialect (DESIGN.md, standing rules): nothing under src/engine imports the API, core,
 * database or worker layers, and no peer API's scheduler vocabulary (Stablecog's ids and names, Leonardo's
 * enum) is spelled there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { SCHEDULER_NAMES } from '../../src/engine/schedulers/index.ts';
import { STABLECOG_SCHEDULERS } from '../../src/api/stablecog/schedulers.ts';
import { LEONARDO_SCHEDULERS } from '../../src/api/leonardo/schedulers.ts';

const ENGINE = resolve('src/engine');
/** The layers above the engine (its config reader, src/engine/from-config.ts, may read src/config). */
const ABOVE = ['api', 'core', 'db', 'queue', 'server', 'storage', 'worker', 'cli'].map((d) => resolve('src', d));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('src/engine imports nothing from the layers above it', () => {
  const upward: string[] = [];
  for (const file of sources(ENGINE)) {
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.[^']*)'/g)) {
      const target = resolve(dirname(file), spec!);
      if (ABOVE.some((d) => target === d || target.startsWith(d + sep))) upward.push(`${relative(ENGINE, file)}: ${spec}`);
    }
  }
  assert.deepEqual(upward, []);
});

test("src/engine spells no peer API's scheduler ids or names", () => {
  // Names that are also the engine's own (DDIM, PNDM...) are the algorithms' names, not a dialect's.
  const own = new Set<string>(SCHEDULER_NAMES);
  const words = [
    ...STABLECOG_SCHEDULERS.flatMap((s) => [s.id, s.name]),
    ...Object.keys(LEONARDO_SCHEDULERS),
  ].filter((w) => !own.has(w.toLowerCase()));
  const found: string[] = [];
  for (const file of sources(ENGINE)) {
    const text = readFileSync(file, 'utf8');
    for (const w of words) if (text.includes(w)) found.push(`${relative(ENGINE, file)}: ${w}`);
    if (/stablecog|leonardo/i.test(text)) found.push(`${relative(ENGINE, file)}: names a dialect`);
  }
  assert.deepEqual(found, []);
});
