/**
 * The URL guard: which addresses are refused (IPv4, IPv6, IPv4-mapped and NAT64 forms), the
 * allow-list, DNS answers checked at connect time, redirects, size and time limits; and ImageInputs
 * (Stablecog's init_image_url, upscale inputs) going through it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { embeddedIpv4, isBlockedAddress, parseAllowList, UrlGuard, UrlRefusedError } from '../../src/core/url-guard.ts';
import { ImageInputs } from '../../src/core/images.ts';
import { openDatabase, type Database } from '../../src/db/database.ts';
import { FilesystemStore } from '../../src/storage/filesystem.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('blocked addresses', () => {
  const blocked = [
    '127.0.0.1', '127.255.0.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1',
    '0.0.0.0', '224.0.0.1', '239.255.255.250', '255.255.255.255', '240.0.0.1', '192.0.2.5', '198.18.0.1',
    '::', '::1', 'fe80::1', 'fe80::1%eth0', 'fc00::1', 'fd12:3456::1', 'ff02::1', 'fec0::1', '2001:db8::1',
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '::ffff:169.254.169.254', '::127.0.0.1', '64:ff9b::10.0.0.1', '64:ff9b::7f00:1',
    'not-an-ip',
  ];
  const allowed = ['8.8.8.8', '1.1.1.1', '172.32.0.1', '192.169.0.1', '100.128.0.1', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e', '::ffff:8.8.8.8', '64:ff9b::8.8.8.8'];
  for (const a of blocked) test(`refuses ${a}`, () => assert.equal(isBlockedAddress(a), true));
  for (const a of allowed) test(`lets ${a} through`, () => assert.equal(isBlockedAddress(a), false));

  test('embedded IPv4 forms', () => {
    assert.equal(embeddedIpv4('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(embeddedIpv4('::ffff:7f00:1'), '127.0.0.1');
    assert.equal(embeddedIpv4('0:0:0:0:0:ffff:a00:1'), '10.0.0.1');
    assert.equal(embeddedIpv4('64:ff9b::a9fe:a9fe'), '169.254.169.254');
    assert.equal(embeddedIpv4('::1'), undefined);
    assert.equal(embeddedIpv4('2001:db8::1'), undefined);
  });

  test('the allow-list takes IPs, CIDR ranges and host names; junk is refused', () => {
    const g = new UrlGuard({ allow: ['127.0.0.1', '10.2.0.0/16', 'fd00::/8', 'images.internal'] });
    assert.equal(g.addressAllowed('127.0.0.1'), true);
    assert.equal(g.addressAllowed('::ffff:127.0.0.1'), true);
    assert.equal(g.addressAllowed('127.0.0.2'), false);
    assert.equal(g.addressAllowed('10.2.9.9'), true);
    assert.equal(g.addressAllowed('10.3.0.1'), false);
    assert.equal(g.addressAllowed('fd00::5'), true);
    assert.equal(g.addressAllowed('10.9.9.9', 'images.internal'), true);
    assert.throws(() => parseAllowList(['10.0.0.0/99']), /CIDR/);
    assert.throws(() => parseAllowList(['http://x']), /not an IP address/);
  });
});

describe('URLs', () => {
  const guard = new UrlGuard({ resolve: async (host) => (host === 'evil.example' ? [{ address: '10.0.0.7', family: 4 }] : host === 'mixed.example' ? [{ address: '93.184.216.34', family: 4 }, { address: '::1', family: 6 }] : [{ address: '93.184.216.34', family: 4 }]) });
  const refused = async (url: string, reason: string) => {
    await assert.rejects(guard.checkResolved(url), (err: unknown) => err instanceof UrlRefusedError && err.reason === reason);
  };
  test('scheme, syntax, credentials', async () => {
    await refused('ftp://example.com/x.png', 'scheme');
    await refused('file:///etc/passwd', 'scheme');
    await refused('not a url', 'syntax');
    await refused('http://user:pw@example.com/', 'credentials');
  });
  test('IP literals in any spelling', async () => {
    for (const u of ['http://127.0.0.1/', 'http://localhost.:80@127.0.0.1/', 'http://2130706433/', 'http://0x7f.1/', 'http://[::1]/', 'http://[::ffff:127.0.0.1]/', 'http://[fe80::1]/', 'http://169.254.169.254/latest/meta-data/', 'http://0/']) {
      await assert.rejects(guard.checkResolved(u), (err: unknown) => err instanceof UrlRefusedError && ['blocked', 'credentials'].includes(err.reason), u);
    }
  });
  test('names that resolve to a private address, even one of several', async () => {
    await refused('http://evil.example/x.png', 'blocked');
    await refused('http://mixed.example/x.png', 'blocked');
    await guard.checkResolved('https://fine.example/x.png');
  });
});

describe('requests against a local server', () => {
  let server: Server;
  let base: string;
  let hits = 0;
  before(async () => {
    server = createServer((req, res) => {
      hits++;
      if (req.url === '/redirect-loopback') return res.writeHead(302, { location: 'http://127.0.0.1:1/secret' }).end();
      if (req.url === '/redirect-self') return res.writeHead(302, { location: '/ok' }).end();
      if (req.url === '/redirect-meta') return res.writeHead(301, { location: 'http://169.254.169.254/latest' }).end();
      if (req.url === '/redirect-loop') return res.writeHead(302, { location: '/redirect-loop' }).end();
      if (req.url === '/big') return res.end(Buffer.alloc(2000));
      if (req.url === '/slow') return void setTimeout(() => res.end('late'), 2000);
      if (req.method === 'POST') {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        return req.on('end', () => res.end(`got ${Buffer.concat(chunks).toString()} ${req.headers['authorization'] ?? ''}`));
      }
      res.end('hello');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const open = new UrlGuard({ allow: ['127.0.0.1'] });

  test('loopback is refused by default, before any connection', async () => {
    const before = hits;
    await assert.rejects(new UrlGuard().request(`${base}/ok`, { maxBytes: 100, timeoutMs: 1000 }), (e: unknown) => e instanceof UrlRefusedError && e.reason === 'blocked');
    assert.equal(hits, before);
  });
  test('a host name resolving to loopback is refused at connect time', async () => {
    const before = hits;
    const g = new UrlGuard({ resolve: async () => [{ address: '127.0.0.1', family: 4 }] });
    const port = new URL(base).port;
    await assert.rejects(g.request(`http://rebind.example:${port}/ok`, { maxBytes: 100, timeoutMs: 1000 }), (e: unknown) => e instanceof UrlRefusedError && e.reason === 'blocked');
    assert.equal(hits, before);
  });
  test('a host name is resolved by the guard and connected to at the address it checked', async () => {
    const g = new UrlGuard({ allow: ['127.0.0.1'], resolve: async () => [{ address: '127.0.0.1', family: 4 }] });
    const port = new URL(base).port;
    const r = await g.request(`http://images.example:${port}/ok`, { maxBytes: 100, timeoutMs: 1000 });
    assert.equal(r.body.toString(), 'hello');
  });
  test('allow-listed: GET, POST with headers', async () => {
    const r = await open.request(`${base}/ok`, { maxBytes: 100, timeoutMs: 1000 });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'hello');
    const p = await open.request(`${base}/hook`, { method: 'POST', body: '{"a":1}', headers: { authorization: 'Bearer s' }, maxBytes: 100, timeoutMs: 1000 });
    assert.equal(p.body.toString(), 'got {"a":1} Bearer s');
  });
  test('redirects: followed when allowed, refused towards blocked addresses, bounded', async () => {
    const r = await open.request(`${base}/redirect-self`, { maxBytes: 100, timeoutMs: 1000 });
    assert.equal(r.body.toString(), 'hello');
    assert.ok(r.url.endsWith('/ok'));
    await assert.rejects(open.request(`${base}/redirect-meta`, { maxBytes: 100, timeoutMs: 1000 }), (e: unknown) => e instanceof UrlRefusedError && e.reason === 'redirect');
    await assert.rejects(open.request(`${base}/redirect-loop`, { maxBytes: 100, timeoutMs: 2000 }), (e: unknown) => e instanceof UrlRefusedError && e.reason === 'redirect');
    // POST never follows: the redirect is the answer.
    const p = await open.request(`${base}/redirect-loopback`, { method: 'POST', maxBytes: 100, timeoutMs: 1000 });
    assert.equal(p.status, 302);
    // Only 127.0.0.1 is allowed: a redirect to 127.0.0.1:1 passes the guard and then fails to connect.
    await assert.rejects(open.request(`${base}/redirect-loopback`, { maxBytes: 100, timeoutMs: 1000 }), (e: unknown) => e instanceof UrlRefusedError && e.reason === 'network');
  });
  test('size and time limits', async () => {
    await assert.rejects(open.request(`${base}/big`, { maxBytes: 1000, timeoutMs: 1000 }), (e: unknown) => e instanceof UrlRefusedError && e.reason === 'too_large');
    await assert.rejects(open.request(`${base}/slow`, { maxBytes: 1000, timeoutMs: 200 }), (e: unknown) => e instanceof UrlRefusedError && e.reason === 'timeout');
  });
});

describe('ImageInputs fetches init images through the guard', () => {
  let server: Server;
  let base: string;
  let db: Database;
  let dir: string;
  before(async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toBuffer();
    server = createServer((_req, res) => res.end(png));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    db = await openDatabase('sqlite::memory:');
    dir = mkdtempSync(join(tmpdir(), 'darkroom-guard-'));
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  test('refused by default (InvalidImageUrlError naming the field), fetched when allow-listed', async () => {
    const store = new FilesystemStore(dir);
    const strict = new ImageInputs(db, store);
    await assert.rejects(strict.resolve('u', `${base}/x.png`, 'initImage'), (e: unknown) => (e as { code?: string; field?: string }).code === 'invalid_image_url' && (e as { field: string }).field === 'initImage' && /not a public address/.test((e as Error).message));
    const lenient = new ImageInputs(db, store, new UrlGuard({ allow: ['127.0.0.1'] }));
    const r = await lenient.resolve('u', `${base}/x.png`, 'initImage');
    assert.deepEqual([r.info.width, r.info.height], [8, 8]);
    await assert.rejects(lenient.resolve('u', `${base}/x.png`, 'initImage', 10), (e: unknown) => (e as { code?: string }).code === 'image_too_large');
  });
});
