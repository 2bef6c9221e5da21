/**
 * The README's examples run as written on a fresh start: `darkroom serve` (what `npm start` runs) on
 * its defaults (the shipped demo model, SQLite, the in-process worker) with a new data directory and
 * a free port. Every shell block in README.md that calls the server (curl) runs in bash, with only
 * what a user substitutes: DARKROOM_API_KEY (the key printed at first start) and the host and port.
 * A block passes when bash exits 0, its answer has the shape of the `# {...}` comment under it, and
 * every file it writes (`-o FILE`) holds an image of that type. A block preceded by
 * `<!-- not run: reason -->` is skipped.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const README_HOST = 'http://localhost:8080';
const NOT_RUN = /^<!--\s*not run:\s*(.*?)\s*-->$/;

interface Block {
  line: number;
  script: string;
  skip?: string;
}

/** The fenced shell blocks that call the server, with the `not run` mark of the line before, if any. */
function serverBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|bash|shell)\s*$/.test(lines[i]!)) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!);
    const script = body.join('\n');
    if (!/^\s*curl\s/m.test(script)) continue;
    const before = lines.slice(0, start).reverse().find((l) => l.trim() !== '');
    const skip = before?.trim().match(NOT_RUN)?.[1];
    if (skip !== undefined) assert.ok(skip !== '', `README.md:${start + 1}: a "not run" mark gives its reason`);
    blocks.push({ line: start + 1, script, ...(skip ? { skip } : {}) });
  }
  return blocks;
}

/**
 * The answer shape a block's `# {...}` comment shows (it may run over several `#` lines), as JSON:
 * `"key":…` becomes null (any value), a bare `…` member (more keys) is dropped.
 */
function shownShape(script: string): unknown {
  const comment = script
    .split('\n')
    .filter((l) => l.startsWith('#'))
    .map((l) => l.replace(/^#\s?/, ''));
  const first = comment.findIndex((l) => l.trimStart().startsWith('{'));
  if (first < 0) return undefined;
  let text = '';
  let depth = 0;
  let inString = false;
  outer: for (const l of comment.slice(first)) {
    for (let i = 0; i < l.length; i++) {
      const ch = l[i]!;
      if (inString) {
        if (ch === '\\') text += ch + l[++i];
        else text += ch;
        if (ch === '"') inString = false;
        continue;
      }
      if (ch === '"') inString = true;
      else if (ch === '{' || ch === '[') depth++;
      else if (ch === '}' || ch === ']') depth--;
      if (ch === '…') text += /:\s*$/.test(text) ? 'null' : '';
      else text += ch;
      if (depth === 0) break outer;
    }
  }
  return JSON.parse(text.replace(/,\s*(?=[,}\]])/g, '').replace(/([{[])\s*,/g, '$1'));
}

/** Every key the shape shows is in the answer, objects and the first item of arrays alike; shown values give the type. */
function assertShape(actual: unknown, shape: unknown, path = '$'): void {
  if (shape === null) return;
  if (Array.isArray(shape)) {
    assert.ok(Array.isArray(actual) && actual.length > 0, `${path}: a non-empty array, got ${JSON.stringify(actual)}`);
    if (shape.length) assertShape(actual[0], shape[0], `${path}[0]`);
    return;
  }
  if (typeof shape === 'object') {
    assert.ok(actual !== null && typeof actual === 'object' && !Array.isArray(actual), `${path}: an object, got ${JSON.stringify(actual)}`);
    for (const [k, v] of Object.entries(shape)) {
      assert.ok(Object.hasOwn(actual, k), `${path}.${k} is in the answer ${JSON.stringify(actual).slice(0, 300)}`);
      assertShape((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
    }
    return;
  }
  assert.equal(typeof actual, typeof shape, `${path}: a ${typeof shape}`);
}

const MAGIC: Record<string, (b: Buffer) => boolean> = {
  png: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  webp: (b) => b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP',
  jpeg: (b) => b[0] === 0xff && b[1] === 0xd8,
  jpg: (b) => b[0] === 0xff && b[1] === 0xd8,
};

let server: ChildProcess;
let url = '';
let apiKey = '';
let dataDir: string;
let workDir: string;
let serverOutput = '';

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'darkroom-readme-'));
  workDir = mkdtempSync(join(tmpdir(), 'darkroom-readme-cwd-'));
  // A fresh start: none of the test run's own settings, only the data directory and a free port.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DARKROOM_') && k !== 'PORT'));
  server = spawn(process.execPath, ['bin/darkroom.mjs', 'serve'], {
    cwd: ROOT,
    env: { ...env, DARKROOM_DATA_DIR: dataDir, DARKROOM_PORT: '0', DARKROOM_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    const seen = () => {
      apiKey ||= serverOutput.match(/^\s*(dr-[0-9a-f]{64})\s*$/m)?.[1] ?? '';
      url ||= serverOutput.match(/listening on (http:\/\/\S+)/)?.[1] ?? '';
      if (apiKey && url) resolve();
    };
    server.stdout!.on('data', (d) => ((serverOutput += d), seen()));
    server.stderr!.on('data', (d) => ((serverOutput += d), seen()));
    server.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${serverOutput}`)));
  });
});

after(async () => {
  if (server.exitCode === null) {
    await new Promise<void>((resolve) => {
      server.once('exit', () => resolve());
      server.kill('SIGTERM');
    });
  }
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(workDir, { recursive: true, force: true });
});

const blocks = serverBlocks(README);

test('the README has curl examples for every dialect, and the key they use is the one it tells users to export', () => {
  const run = blocks.filter((b) => !b.skip).map((b) => b.script);
  for (const path of ['/v1/image/generation/create', '/api/generate/core', '/v2beta/stable-image/generate/core', '/api/rest/v1/generations', '/v1/images/generations']) {
    assert.ok(run.some((s) => s.includes(README_HOST + path)), `${path} has an example that runs`);
  }
  assert.match(README, /export DARKROOM_API_KEY=/);
  for (const s of run) assert.match(s, /"Authorization: (Bearer )?\$DARKROOM_API_KEY"/, s);
});

for (const block of blocks) {
  const title = `README.md:${block.line}: ${block.script.split('\n')[0]!.slice(0, 90)}`;
  test(title, { skip: block.skip }, () => {
    assert.ok(block.script.includes(README_HOST), 'the example names the server as a fresh start serves it');
    const script = block.script.replaceAll(README_HOST, url);
    const shape = shownShape(block.script);
    const files = [...block.script.matchAll(/\s-o\s+(\S+)/g)].map((m) => m[1]!);
    assert.ok(shape !== undefined || files.length > 0, 'the example shows its answer (a # {...} comment) or writes it to a file (-o)');
    for (const f of files) rmSync(join(workDir, f), { force: true });

    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: workDir, DARKROOM_API_KEY: apiKey };
    const r = spawnSync('bash', ['-e', '-o', 'pipefail', '-c', script], { cwd: workDir, env, encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, `bash exited with ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}\nserver: ${serverOutput.slice(-2000)}`);

    if (shape !== undefined) {
      let answer: unknown;
      assert.doesNotThrow(() => (answer = JSON.parse(r.stdout)), `the answer is JSON: ${r.stdout.slice(0, 500)}`);
      assertShape(answer, shape);
    }
    for (const f of files) {
      const path = join(workDir, f);
      assert.ok(existsSync(path), `${f} was written`);
      const ext = f.split('.').pop()!.toLowerCase();
      assert.ok(MAGIC[ext], `${f}: a file type the test knows (${Object.keys(MAGIC).join(', ')})`);
      assert.ok(MAGIC[ext](readFileSync(path)), `${f} holds a ${ext} image`);
    }
  });
}
