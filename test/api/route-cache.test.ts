/** The app's router keeps its answers by method and path, within a bound; the answers are the wrapped router's. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hono } from 'hono';
import type { Result, Router } from 'hono/router';
import { TrieRouter } from 'hono/router/trie-router';
import { CachingRouter } from '../../src/api/route-cache.ts';

function counting(): { router: Router<string>; asked: string[] } {
  const inner = new TrieRouter<string>();
  const asked: string[] = [];
  return {
    asked,
    router: {
      name: 'counting',
      add: (method, path, handler) => inner.add(method, path, handler),
      match: (method, path): Result<string> => (asked.push(`${method} ${path}`), inner.match(method, path)),
    },
  };
}

test('a path is routed once; each path keeps its own parameters', () => {
  const { router, asked } = counting();
  const cached = new CachingRouter(router);
  cached.add('GET', '/v1/credits', 'credits');
  cached.add('GET', '/v1/image/:id', 'image');
  const first = cached.match('GET', '/v1/credits');
  assert.equal(cached.match('GET', '/v1/credits'), first);
  assert.deepEqual(asked, ['GET /v1/credits']);
  const a = cached.match('GET', '/v1/image/a');
  const b = cached.match('GET', '/v1/image/b');
  assert.equal(a[0][0]![0], 'image');
  assert.deepEqual([{ ...a[0][0]![1] }, { ...b[0][0]![1] }], [{ id: 'a' }, { id: 'b' }]);
  assert.deepEqual(cached.match('POST', '/v1/credits')[0], []);
});

test('past the bound the answers start again, and long paths are not kept', () => {
  const { router, asked } = counting();
  const cached = new CachingRouter(router, 2);
  cached.add('GET', '/x/:id', 'x');
  cached.match('GET', '/x/1');
  cached.match('GET', '/x/2');
  cached.match('GET', '/x/3'); // full: starts again with /x/3 alone
  cached.match('GET', '/x/3');
  cached.match('GET', '/x/1');
  assert.deepEqual(asked, ['GET /x/1', 'GET /x/2', 'GET /x/3', 'GET /x/1']);
  const long = `/x/${'a'.repeat(300)}`;
  cached.match('GET', long);
  cached.match('GET', long);
  assert.equal(asked.filter((p) => p === `GET ${long}`).length, 2);
});

test('a Hono app on it answers as on its own router', async () => {
  const build = (app: Hono) => {
    app.use('*', async (c, next) => {
      await next();
      c.header('X-Seen', '1');
    });
    app.get('/items/new', (c) => c.text('form'));
    app.get('/items/:id', (c) => c.json({ id: c.req.param('id') }));
    app.get('/items/:id/:part', (c) => c.json(c.req.param()));
    return app;
  };
  const plain = build(new Hono());
  const cached = build(new Hono({ router: new CachingRouter() }));
  const answer = async (app: Hono, path: string) => {
    const r = await app.request(path);
    return [r.status, r.headers.get('x-seen'), await r.text()];
  };
  for (let i = 0; i < 2; i++) {
    for (const path of ['/items/7', '/items/new', '/items/8/thumb', '/nothing']) {
      assert.deepEqual(await answer(cached, path), await answer(plain, path), path);
    }
  }
  assert.deepEqual(await answer(cached, '/items/8/thumb'), [200, '1', '{"id":"8","part":"thumb"}']);
});
