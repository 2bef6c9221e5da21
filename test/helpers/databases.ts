/**
 * Databases for tests: a SQLite file in a fresh temp dir, and (where the binaries are installed) a
 * throwaway Postgres cluster in a temp dir, listening on a Unix socket only. When Postgres is not
 * installed, `startPostgres` says why, so the test can skip with a visible message.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../../src/db/database.ts';

export async function tempSqlite(): Promise<{ db: Database; dir: string; cleanup: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'darkroom-db-'));
  const db = await openDatabase(`sqlite:${join(dir, 'darkroom.db')}`);
  return {
    db,
    dir,
    cleanup: async () => {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function findPgBin(): string | undefined {
  const onPath = spawnSync('sh', ['-c', 'command -v pg_ctl'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return join(onPath, '..');
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) if (existsSync(join(root, v, 'bin', 'pg_ctl'))) return join(root, v, 'bin');
  return undefined;
}

export interface TempPostgres {
  url: string;
  stop: () => void;
}

/** A fresh cluster (initdb + pg_ctl start, about a second), or a reason it cannot be had here. */
export function startPostgres(): TempPostgres | { skip: string } {
  const bin = findPgBin();
  if (!bin) return { skip: 'Postgres is not installed (no pg_ctl on PATH or under /usr/lib/postgresql); apt-get install -y postgresql to run this test' };
  const dir = mkdtempSync(join(tmpdir(), 'darkroom-pg-'));
  const data = join(dir, 'data');
  // initdb refuses to run as root: run the server as the postgres user when we are root.
  const asRoot = process.getuid?.() === 0;
  let prefix: string[] = [];
  if (asRoot) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    if (!Number.isInteger(uid) || uid <= 0) return { skip: 'running as root and there is no postgres user to run Postgres as' };
    chownSync(dir, uid, gid);
    prefix = ['runuser', '-u', 'postgres', '--'];
  }
  const run = (cmd: string, args: string[]) => {
    const all = [...prefix, join(bin, cmd), ...args];
    execFileSync(all[0]!, all.slice(1), { stdio: 'pipe' });
  };
  const port = 40000 + Math.floor(Math.random() * 20000);
  try {
    run('initdb', ['-D', data, '-A', 'trust', '-U', 'darkroom', '--no-sync']);
    run('pg_ctl', ['-D', data, '-w', '-l', join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses='' -c fsync=off`, 'start']);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return { skip: `could not start Postgres: ${(err as Error).message.split('\n')[0]}` };
  }
  return {
    url: `postgres://darkroom@localhost/postgres?host=${encodeURIComponent(dir)}&port=${port}`,
    stop: () => {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
      } catch {
        /* already stopped */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
