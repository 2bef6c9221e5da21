/**
 * A client that reuses a kept-alive connection never sees a reset. The server keeps an idle
 * connection open longer than any client keeps it (undici, fetch's client, keeps one for the
 * server's advertised `Keep-Alive: timeout` less a second or two; load balancers for about 60 s):
 * were the server first to close, a request sent on the connection as it closes is reset
 * (ECONNRESET / "other side closed"), which is what `test/e2e/openapi.test.ts` saw under load
 * when a long synchronous step (type generation) held the event loop past Node's default 5 s.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let t: TestServer;
before(async () => (t = await startTestServer()));
after(() => t.close());

/** Blocks this thread (the event loop of client and server alike) without burning a CPU. */
function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

test('the server advertises a keep-alive above the usual client and load-balancer idle timeouts', async () => {
  const res = await fetch(`${t.url}/v1/health`);
  await res.arrayBuffer();
  const timeout = Number(/timeout=(\d+)/.exec(res.headers.get('keep-alive') ?? '')?.[1]);
  assert.ok(timeout >= 60, `Keep-Alive: ${res.headers.get('keep-alive')}`);
});

test('a request on a connection left idle while the event loop was held for 6 s is answered, not reset', async () => {
  // Open a pooled connection, then hold the loop past Node's default 5 s keepAliveTimeout: when it
  // runs again, the next request goes out on that connection before any timer has had its turn.
  await (await fetch(`${t.url}/v1/health`)).arrayBuffer();
  blockFor(6000);
  const res = await fetch(`${t.url}/v1/image/generation/defaults`).catch((err: Error & { cause?: { code?: string; message?: string } }) =>
    assert.fail(`${err.message}: ${err.cause?.code ?? ''} ${err.cause?.message ?? ''}`),
  );
  assert.equal(res.status, 200);
  await res.json();
});
