/**
 * The `darkroom` command as a user runs it (bin/darkroom.mjs, in a process of its own), on a
 * temporary data directory of its own with the given model folders linked into its `models/`.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/darkroom.mjs', import.meta.url));

export interface CliHome {
  /** The data directory (DARKROOM_DATA_DIR). */
  dir: string;
  /** The environment every command gets: this process's, the data directory and `options.env`. */
  env: NodeJS.ProcessEnv;
  /** Runs `darkroom ...args` to its end (`extra` on top of `env`). */
  run(args: string[], extra?: Record<string, string>): SpawnSyncReturns<string>;
  /** Removes the data directory. */
  remove(): void;
}

export function cliHome(prefix: string, options: { models?: Record<string, string>; env?: Record<string, string> } = {}): CliHome {
  const dir = mkdtempSync(join(tmpdir(), `darkroom-${prefix}-`));
  const models = Object.entries(options.models ?? {});
  if (models.length) mkdirSync(join(dir, 'models'));
  for (const [name, folder] of models) symlinkSync(folder, join(dir, 'models', name));
  const env = { ...process.env, DARKROOM_DATA_DIR: dir, ...options.env };
  return {
    dir,
    env,
    run: (args, extra = {}) => spawnSync(process.execPath, [BIN, ...args], { env: { ...env, ...extra }, encoding: 'utf8', timeout: 120_000 }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
