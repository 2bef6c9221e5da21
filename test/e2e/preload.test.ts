/** The default model is loaded when the server starts, before any request asks for it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestServer } from '../helpers/server.ts';

/** The messages of the server's log lines (JSON lines: their `msg`). */
function messages(logs: string[]): string[] {
  return logs.map((l) => (l.startsWith('{') ? String((JSON.parse(l) as { msg?: unknown }).msg) : l));
}

async function waitForLog(logs: string[], pattern: RegExp, ms: number): Promise<string | undefined> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(20)) {
    const line = messages(logs).find((l) => pattern.test(l));
    if (line) return line;
  }
  return undefined;
}

test('the default model loads at start, without a request', async () => {
  const t = await startTestServer();
  try {
    const line = await waitForLog(t.logs, /^model tiny-sd1 loaded \(cpu\) in \d+ ms$/, 15_000);
    assert.ok(line, t.logs.join('\n'));
    const res = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'a cat', num_outputs: 1 } });
    assert.equal(res.status, 200);
    assert.equal(messages(t.logs).filter((l) => /loaded/.test(l)).length, 1, 'the request used the loaded model');
  } finally {
    await t.close();
  }
});

test('DARKROOM_PRELOAD=false leaves loading to the first request', async () => {
  const t = await startTestServer({ DARKROOM_PRELOAD: 'false' });
  try {
    const res = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'a cat', num_outputs: 1 } });
    assert.equal(res.status, 200);
    assert.ok(!t.logs.some((l) => /loaded .* in \d+ ms/.test(l)), t.logs.join('\n'));
  } finally {
    await t.close();
  }
});
