/**
 * The commands a user types: `darkroom serve` (what `npm start` runs) prints one admin key on the
 * first start only; `darkroom keys create --user NAME` and `darkroom credits grant` work on the
 * same data directory, also while the server runs; bad configuration stops start-up with one
 * message listing every bad value.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { testModelDir } from '../../tools/test-models/cache.ts';
import { BIN, cliHome, type CliHome } from '../helpers/cli.ts';

let home: CliHome;
let env: NodeJS.ProcessEnv;

before(async () => {
  home = cliHome('cli', { models: { 'tiny-sd1': await testModelDir('tiny-sd1') }, env: { DARKROOM_DEFAULT_MODEL: 'tiny-sd1', DARKROOM_HOST: '127.0.0.1', DARKROOM_PORT: '0' } });
  env = home.env;
});
after(() => home.remove());

/** Starts `darkroom serve`; resolves with its URL and what it printed once it listens. */
function serve(): Promise<{ child: ChildProcess; url: string; stdout: string }> {
  const child = spawn(process.execPath, [BIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      stderr += d;
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) resolve({ child, url: m[1]!, stdout });
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

function cli(...args: string[]) {
  return home.run(args);
}

test('first start prints one admin key; it works; the second start prints none', async () => {
  const first = await serve();
  const keys = first.stdout.match(/dr-[0-9a-f]{64}/g) ?? [];
  assert.equal(keys.length, 1, first.stdout);
  const res = await fetch(`${first.url}/v1/image/generation/create`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${keys[0]}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt: 'red cat wearing a purple hat', num_outputs: 1 }),
  });
  assert.equal(res.status, 200);

  // While it runs: a new user and key, and credits, from the CLI.
  const made = cli('keys', 'create', '--user', 'bob');
  assert.equal(made.status, 0, made.stderr);
  const bobKey = made.stdout.trim();
  assert.match(bobKey, /^dr-[0-9a-f]{64}$/);
  const granted = cli('credits', 'grant', '--user', 'bob', '--amount', '25');
  assert.equal(granted.status, 0, granted.stderr);
  const credits = (await (await fetch(`${first.url}/v1/credits`, { headers: { Authorization: `Bearer ${bobKey}` } })).json()) as { total_remaining_credits: number };
  assert.equal(credits.total_remaining_credits, 100 + 25);
  assert.equal(await stop(first.child), 0);

  const second = await serve();
  assert.doesNotMatch(second.stdout, /dr-[0-9a-f]{64}/);
  assert.equal((await fetch(`${second.url}/v1/credits`, { headers: { Authorization: `Bearer ${keys[0]}` } })).status, 200);
  await stop(second.child);
});

test('credits grant refuses a bad amount and an unknown user', () => {
  assert.notEqual(cli('credits', 'grant', '--user', 'bob', '--amount', '-3').status, 0);
  const r = cli('credits', 'grant', '--user', 'nobody', '--amount', '3');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /user nobody not found/);
});

test('flags a command would ignore are refused, naming the flag, before anything is written', () => {
  const made = cli('keys', 'create', '--user', 'carol');
  assert.equal(made.status, 0, made.stderr);
  const keysOfCarol = () => cli('keys', 'list', '--user', 'carol').stdout.trim().split('\n').length;
  assert.equal(keysOfCarol(), 1);
  const refusals: [string[], RegExp][] = [
    [['keys', 'create', '--user', 'carol', '--admin'], /--admin: user "carol" exists already/],
    [['keys', 'create', '--user', 'carol', '--port', '9000'], /unknown option '--port'/],
    [['credits', 'grant', '--user', 'carol', '--amount', 'ten'], /--amount: must be a positive integer, got "ten"/],
    [['models', 'optimize', '--json'], /--json: only `darkroom models`/],
    [['bench', '--print-config', '--steps', '3'], /'--print-config' cannot be used with option '--steps/],
    [['bench', '--build-only', '--runs', '3'], /'--build-only' cannot be used with option '--runs/],
    [['worker', '--port', '9000'], /unknown option '--port'/],
    [['serve', '--health-port', '9000'], /unknown option '--health-port'/],
  ];
  for (const [args, message] of refusals) {
    const r = cli(...args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
  assert.equal(keysOfCarol(), 1, 'no key was made by a refused command');
  assert.match(cli('credits', 'show', '--user', 'carol').stdout, /^balance 100$/m);
});

test('bad configuration: one message listing every bad value, exit code 1', () => {
  const r = home.run(['serve', '--port', 'eighty'], { DARKROOM_MAX_IN_FLIGHT: '0', DARKROOM_DATABASE_URL: 'mysql://x', DARKROOM_OUTPUTS_PUBLIC: 'maybe' });
  assert.equal(r.status, 1);
  for (const bad of [/--port="eighty"/, /DARKROOM_MAX_IN_FLIGHT="0"/, /DARKROOM_DATABASE_URL="mysql:\/\/x"/, /DARKROOM_OUTPUTS_PUBLIC="maybe"/]) {
    assert.match(r.stderr, bad);
  }
  assert.equal(r.stderr.match(/invalid configuration/g)?.length, 1);
});
