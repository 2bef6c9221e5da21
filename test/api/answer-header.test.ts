import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AnswerResponse, answerServerOptions } from '../../src/api/answer-header.ts';

/** Serves one answer written by `write` on a real socket and gives back what the client got. */
async function answered(write: (res: AnswerResponse) => void): Promise<Response> {
  const server = createServer(answerServerOptions, (_req, res: ServerResponse) => write(res as AnswerResponse));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  } finally {
    server.close();
    server.closeAllConnections();
  }
}

test('answer headers join the headers given to writeHead, and are not set on the response before it', async () => {
  let namesBefore: string[] = [];
  const res = await answered((r) => {
    r.answerHeader('X-Request-Id', 'abc');
    r.answerHeader('Access-Control-Allow-Origin', '*');
    // Set through setHeader they would show here, and writeHead would take Node's slow path.
    namesBefore = r.getHeaderNames();
    r.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 2 }).end('{}');
  });
  assert.deepEqual(namesBefore, []);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-request-id'), 'abc');
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.equal(res.headers.get('content-type'), 'application/json');
  assert.equal(await res.text(), '{}');
});

test("the answer's own header wins a clash, whatever the case of either name", async () => {
  const res = await answered((r) => {
    r.answerHeader('X-RateLimit-Limit', '10');
    r.answerHeader('X-Request-Id', 'kept');
    r.writeHead(429, { 'x-ratelimit-limit': '5' }).end();
  });
  assert.equal(res.headers.get('x-ratelimit-limit'), '5');
  assert.equal(res.headers.get('x-request-id'), 'kept');
});

test('answer headers reach answers written with a status message, raw header pairs, or no writeHead at all', async () => {
  const withReason = await answered((r) => {
    r.answerHeader('X-Request-Id', 'a');
    r.writeHead(201, 'Made', { 'Content-Type': 'text/plain' }).end('x');
  });
  assert.equal(withReason.status, 201);
  assert.equal(withReason.statusText, 'Made');
  assert.equal(withReason.headers.get('x-request-id'), 'a');

  const rawPairs = await answered((r) => {
    r.answerHeader('X-Request-Id', 'b');
    r.answerHeader('X-Other', 'ours');
    r.writeHead(200, ['X-Other', 'theirs', 'Content-Type', 'text/plain']).end('y');
  });
  assert.equal(rawPairs.headers.get('x-request-id'), 'b');
  assert.equal(rawPairs.headers.get('x-other'), 'theirs');

  const implicit = await answered((r) => {
    r.answerHeader('X-Request-Id', 'c');
    r.statusCode = 204;
    r.end();
  });
  assert.equal(implicit.status, 204);
  assert.equal(implicit.headers.get('x-request-id'), 'c');
});
