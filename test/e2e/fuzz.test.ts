/**
 * The standing fuzz suite (issue 15): cases generated from Darkroom's own OpenAPI document, served by
 * the running server, for every route and every field of its body, query and path: wrong types,
 * out-of-bounds numbers, huge strings, unicode, nulls, missing required fields, broken bodies and
 * missing or bad keys. Whatever the answer, three things must hold:
 *   - no 5xx;
 *   - a 4xx charges nothing (the caller's balance is unchanged);
 *   - a 4xx writes nothing (no new file under the data directory's images folder, no new generation,
 *     upscale or upload row).
 * Deterministic (a seeded generator, DARKROOM_FUZZ_SEED to vary it); a fast stand-in engine answers
 * the requests that are valid, which are fine: the invariants are about what is refused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { makeUser, startTestServer, type TestServer } from '../helpers/server.ts';
import { fastEngine } from '../helpers/fast-engine.ts';
import { prng } from '../../tools/demo-model/scenes.ts';

type Schema = {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  multipleOf?: number;
  format?: string;
  pattern?: string;
  default?: unknown;
  example?: unknown;
};
interface Parameter {
  name: string;
  in: 'query' | 'path' | 'header';
  required?: boolean;
  schema?: Schema;
}
interface Operation {
  operationId?: string;
  security?: unknown[];
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

const SEED = Number(process.env.DARKROOM_FUZZ_SEED ?? 15);
// Seeded, so every run sends the same cases.
const random = prng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

const UNICODE = ['🦄🌈', 'Ωμέγα ℵ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '\u202eevil\u202c', 'e\u0301\u0301\u0301', '\u0000nul', '\ud800 lone surrogate', '中文提示词', '\ufeffbom', 'a\r\nb\tc', '${{7*7}}<script>'];
const HUGE = 'x'.repeat(200_000);

let t: TestServer;
let doc: Document;
let user: { key: string; userId: string };
let revokedKey = '';
let png: Uint8Array<ArrayBuffer>;
let transparentPng: Uint8Array<ArrayBuffer>;

before(async () => {
  t = await startTestServer({ DARKROOM_MAX_QUEUED: '1000' }, { engine: fastEngine });
  user = await makeUser(t, 'fuzzed', 1_000_000);
  const revoked = await makeUser(t, 'revoked', 100);
  const { accounts } = t.server.services;
  const keys = await accounts.listKeys(revoked.userId);
  for (const k of keys) await accounts.revokeKey(revoked.userId, k.id);
  revokedKey = revoked.key;
  doc = (await (await fetch(`${t.url}/openapi.json`)).json()) as Document;
  png = new Uint8Array(await sharp({ create: { width: 64, height: 64, channels: 3, background: '#336699' } }).png().toBuffer());
  transparentPng = new Uint8Array(await sharp({ create: { width: 64, height: 64, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer());
});
after(() => t.close());

function deref(s: Schema | undefined): Schema {
  if (!s) return {};
  if (s.$ref) return deref(doc.components?.schemas?.[s.$ref.split('/').pop()!]);
  const alt = s.anyOf ?? s.oneOf;
  if (alt) return deref(alt.find((x) => deref(x).type !== 'null') ?? alt[0]);
  if (s.allOf) return Object.assign({}, ...s.allOf.map(deref));
  return s;
}
const typeOf = (s: Schema): string | undefined => (Array.isArray(s.type) ? s.type.find((x) => x !== 'null') : s.type);

/** A value the schema accepts (as far as the document tells). */
function validValue(name: string, s: Schema): unknown {
  s = deref(s);
  if (s.enum) return s.enum.find((v) => v !== null);
  if (s.example !== undefined) return s.example;
  switch (typeOf(s)) {
    case 'integer':
    case 'number':
      return s.minimum ?? (typeof s.default === 'number' ? s.default : 1);
    case 'boolean':
      return false;
    case 'array':
      return [validValue(name, s.items ?? {})];
    case 'object':
      return Object.fromEntries((s.required ?? []).map((k) => [k, validValue(k, s.properties?.[k] ?? {})]));
    default:
      if (name === 'prompt') return 'a red circle on a blue background';
      if (name === 'size') return '256x256';
      return 'a'.repeat(Math.max(1, s.minLength ?? 1));
  }
}

/** Values a field should refuse, or at least survive: wrong types, bounds, huge, unicode, null. */
function badValues(name: string, s: Schema): [string, unknown][] {
  s = deref(s);
  const out: [string, unknown][] = [
    ['null', null],
    ['object', { nested: { deeper: [1, 2, 3] } }],
    ['array', [validValue(name, s), validValue(name, s)]],
    ['true', true],
    ['huge string', HUGE],
    ['empty string', ''],
    ['blank string', '   \t\n'],
    ['unicode', pick(UNICODE)],
    ['unicode 2', pick(UNICODE)],
    ['1e308', 1e308],
    ['-1e308', -1e308],
    ['2^53+2', 2 ** 53 + 2],
    ['-1', -1],
    ['0', 0],
    ['fraction', 0.5],
    ['number as string', '12'],
  ];
  const kind = typeOf(s);
  if (kind === 'integer' || kind === 'number') {
    if (s.minimum !== undefined) out.push(['below minimum', s.minimum - 1], ['just below minimum', s.minimum - 0.001]);
    if (s.maximum !== undefined) out.push(['above maximum', s.maximum + 1], ['far above maximum', s.maximum * 1000 + 7]);
    if (s.multipleOf !== undefined) out.push(['not a multiple', (s.minimum ?? 0) + s.multipleOf / 2 + 1]);
    const lo = s.minimum ?? -1e6;
    const hi = s.maximum ?? 1e6;
    out.push(['random in range', Math.round(lo + random() * (hi - lo))]);
  }
  if (kind === 'string' || s.enum) {
    if (s.maxLength !== undefined) out.push(['over maxLength', 'y'.repeat(s.maxLength + 1)]);
    if (s.enum) out.push(['not in enum', `${String(s.enum[0])}-nope`], ['enum, other case', String(s.enum.find((v) => v !== null)).toUpperCase()]);
    out.push(['url-ish', 'http://169.254.169.254/latest/meta-data/'], ['s3-ish', 's3://../../etc/passwd'], ['uuid-ish', '00000000-0000-0000-0000-000000000000']);
  }
  return out;
}

interface Case {
  route: string;
  label: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | FormData;
  /** What was sent, for the report. */
  shown: string;
}

const SKIP_PATHS = new Set<string>([]);

/** Fills a path template's parameters. */
function fillPath(path: string, values: Record<string, string>): string {
  // Every byte percent-encoded (a lone surrogate becomes U+FFFD, as in any UTF-8 encoder).
  const encode = (v: string) => [...Buffer.from(v, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  return path.replace(/\{([^}]+)\}/g, (_m, name: string) => encode(values[name] ?? 'x'));
}

function baseParams(op: Operation): { path: Record<string, string>; query: Record<string, string> } {
  const path: Record<string, string> = {};
  const query: Record<string, string> = {};
  for (const p of op.parameters ?? []) {
    const v = p.name === 'userId' ? user.userId : p.name === 'id' && p.in === 'query' ? 'fuzz-stream-0000000001' : p.in === 'path' ? '00000000-0000-4000-8000-000000000000' : undefined;
    if (p.in === 'path') path[p.name] = v ?? 'x';
    if (p.in === 'query' && (p.required || v)) query[p.name] = v ?? String(validValue(p.name, p.schema ?? {}));
  }
  return { path, query };
}

const withQuery = (path: string, query: Record<string, string>) => {
  const q = new URLSearchParams(query).toString();
  return q ? `${path}?${q}` : path;
};

function formOf(fields: Record<string, unknown>, files: Record<string, Uint8Array<ArrayBuffer> | null>): FormData {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) f.append(k, typeof v === 'string' ? v : JSON.stringify(v));
  for (const [k, bytes] of Object.entries(files)) if (bytes) f.append(k, new Blob([bytes], { type: 'image/png' }), `${k}.png`);
  return f;
}

function casesFor(path: string, method: string, op: Operation): Case[] {
  const route = `${method.toUpperCase()} ${path}`;
  const auth = { Authorization: `Bearer ${user.key}` };
  const { path: pathValues, query } = baseParams(op);
  const url = withQuery(fillPath(path, pathValues), query);
  const cases: Case[] = [];
  const add = (label: string, c: Omit<Case, 'route' | 'label' | 'method'>) => cases.push({ route, label, method: method.toUpperCase(), ...c });

  const json = op.requestBody?.content['application/json'];
  const multipart = op.requestBody?.content['multipart/form-data'];
  const bodySchema = deref(json?.schema ?? multipart?.schema);
  const props = bodySchema.properties ?? {};
  const required = new Set(bodySchema.required ?? []);
  const base: Record<string, unknown> = Object.fromEntries([...required].filter((k) => deref(props[k]).format !== 'binary').map((k) => [k, validValue(k, props[k] ?? {})]));
  const binaries = Object.keys(props).filter((k) => deref(props[k]).format === 'binary');
  const baseFiles: Record<string, Uint8Array<ArrayBuffer> | null> = Object.fromEntries(binaries.filter((k) => required.has(k)).map((k) => [k, transparentPng]));

  const send = (label: string, fields: Record<string, unknown>, files = baseFiles, headers: Record<string, string> = auth) => {
    if (json) {
      const text = JSON.stringify(fields);
      add(label, { path: url, headers: { ...headers, 'Content-Type': 'application/json' }, body: text, shown: text.length > 300 ? `${text.slice(0, 300)}… (${text.length} chars)` : text });
    } else if (multipart) {
      const shown = JSON.stringify({ ...fields, ...Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v ? `<${v.length} bytes>` : '<none>'])) });
      add(label, { path: url, headers, body: formOf(fields, files), shown: shown.length > 300 ? `${shown.slice(0, 300)}…` : shown });
    } else {
      add(label, { path: url, headers, shown: url });
    }
  };

  // Keys: none, unknown, malformed, revoked.
  for (const [label, headers] of [
    ['no key', {}],
    ['unknown key', { Authorization: 'Bearer dr_0000000000000000000000000000000000' }],
    ['empty bearer', { Authorization: 'Bearer ' }],
    ['basic auth', { Authorization: 'Basic dXNlcjpwYXNz' }],
    ['huge key', { Authorization: `Bearer ${'k'.repeat(8000)}` }],
    ['revoked key', { Authorization: `Bearer ${revokedKey}` }],
  ] as [string, Record<string, string>][]) {
    send(`auth: ${label}`, base, baseFiles, headers);
  }
  send('valid (required fields only)', base);

  // Every field of the body: bad values; the valid value of each optional one; each required one missing.
  for (const [name, schema] of Object.entries(props)) {
    if (deref(schema).format === 'binary') continue;
    for (const [label, value] of badValues(name, schema)) {
      const fields = { ...base, [name]: multipart && typeof value !== 'string' ? (value === null ? 'null' : JSON.stringify(value)) : value };
      send(`${name}: ${label}`, fields);
    }
    if (!required.has(name)) send(`${name}: valid`, { ...base, [name]: validValue(name, schema) });
    else {
      const { [name]: _, ...missing } = base;
      send(`${name}: missing (required)`, missing);
    }
  }
  // Files of a multipart body: missing, empty, not an image, truncated, text where a file goes, twice.
  for (const name of binaries) {
    const { [name]: _, ...others } = baseFiles;
    send(`${name}: missing`, base, others);
    send(`${name}: empty file`, base, { ...baseFiles, [name]: new Uint8Array(0) });
    send(`${name}: not an image`, base, { ...baseFiles, [name]: new Uint8Array(new TextEncoder().encode('%PDF-1.4 definitely not a png')) });
    send(`${name}: truncated png`, base, { ...baseFiles, [name]: png.slice(0, 40) });
    send(`${name}: opaque png`, base, { ...baseFiles, [name]: png });
    send(`${name}: text instead of a file`, { ...base, [name]: 'just text' }, others);
    if (multipart) {
      const twice = formOf(base, baseFiles);
      twice.append(name, new Blob([transparentPng], { type: 'image/png' }), 'again.png');
      add(`${name}: sent twice`, { path: url, headers: auth, body: twice, shown: `${name} twice` });
    }
  }
  // Whole bodies that are not what the route reads.
  if (json) {
    for (const [label, text] of [
      ['empty body', ''],
      ['not JSON', '{"prompt": '],
      ['JSON null', 'null'],
      ['JSON array', '[{"prompt":"a"}]'],
      ['JSON string', '"a red circle"'],
      ['JSON number', '1e308'],
      ['deeply nested', `${'['.repeat(20000)}${']'.repeat(20000)}`],
      ['deeply nested object', `{"prompt":"a","x":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`],
      ['__proto__ key', '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}},"prompt":"a red circle"}'],
      ['duplicate keys', '{"prompt":"a","prompt":{"x":1}}'],
      ['byte order mark', `\ufeff${JSON.stringify(base)}`],
      ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x70, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]).toString('latin1')],
    ] as [string, string][]) {
      add(`body: ${label}`, { path: url, headers: { ...auth, 'Content-Type': 'application/json' }, body: text, shown: text.slice(0, 120) });
    }
    add('body: JSON as text/plain', { path: url, headers: { ...auth, 'Content-Type': 'text/plain' }, body: JSON.stringify(base), shown: 'text/plain' });
    add('body: JSON as a multipart form', { path: url, headers: auth, body: formOf(base, {}), shown: 'multipart' });
  }
  if (multipart) {
    add('body: JSON instead of a form', { path: url, headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify(base), shown: 'json' });
    add('body: broken multipart', { path: url, headers: { ...auth, 'Content-Type': 'multipart/form-data; boundary=zzz' }, body: '--zzz\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nunterminated', shown: 'broken multipart' });
    add('body: multipart without boundary', { path: url, headers: { ...auth, 'Content-Type': 'multipart/form-data' }, body: 'prompt=a', shown: 'no boundary' });
  }
  // Query and path parameters.
  for (const p of op.parameters ?? []) {
    if (p.in === 'header') continue;
    const values: [string, string][] = [
      ['empty', ''],
      ['-1', '-1'],
      ['1e308', '1e308'],
      ['NaN', 'NaN'],
      ['fraction', '0.5'],
      ['text', 'abc'],
      ['huge', 'q'.repeat(6000)],
      ['unicode', pick(UNICODE)],
      ['traversal', '../../../../etc/passwd'],
      ['sql', "' OR 1=1 --"],
      ['nul', 'a\u0000b'],
      ['list', '1,2,,x,'],
    ];
    for (const [label, value] of values) {
      if (p.in === 'query') add(`query ${p.name}: ${label}`, { path: withQuery(fillPath(path, pathValues), { ...query, [p.name]: value }), headers: auth, shown: `${p.name}=${value.slice(0, 80)}` });
      else if (value !== '') add(`path ${p.name}: ${label}`, { path: withQuery(fillPath(path, { ...pathValues, [p.name]: value }), query), headers: auth, shown: `${p.name}=${value.slice(0, 80)}` });
    }
    if (p.in === 'query') add(`query ${p.name}: repeated`, { path: `${url}${url.includes('?') ? '&' : '?'}${p.name}=1&${p.name}=2`, headers: auth, shown: `${p.name} twice` });
  }
  return cases;
}

/** Every file under the images folder of the data directory. */
function fileCount(): number {
  const walk = (dir: string): number => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return 0;
    }
    return entries.reduce((n, e) => n + (e.isDirectory() ? walk(join(dir, e.name)) : 1), 0);
  };
  return walk(join(t.dataDir, 'images'));
}

async function rows(): Promise<number> {
  const db = t.server.db.kysely;
  let n = 0;
  for (const table of ['generations', 'upscales', 'uploads'] as const) {
    const r = await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    n += Number(r.n);
  }
  return n;
}

/** Waits until no job is queued or running (asynchronous creates answer before their images exist). */
async function settled(): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const busy = await Promise.all(
      (['generations', 'upscales'] as const).map((table) => t.server.db.kysely.selectFrom(table).select('id').where('status', 'in', ['queued', 'running']).executeTakeFirst()),
    );
    if (busy.every((r) => r === undefined)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function footprint() {
  await settled();
  return { credits: await t.server.services.credits.balance(user.userId), files: fileCount(), rows: await rows() };
}

test('fuzzing every route and field of the OpenAPI document: no 5xx; a 4xx charges nothing and writes nothing', { timeout: 600_000 }, async () => {
  const started = Date.now();
  const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method, op })));
  assert.ok(operations.length >= 30, `the document lists the routes (${operations.length})`);
  const cases = operations.filter((o) => !SKIP_PATHS.has(o.path)).flatMap((o) => casesFor(o.path, o.method, o.op));
  const problems: string[] = [];
  const statuses = new Map<number, number>();
  const routes = new Set<string>();
  let last = await footprint();
  for (const c of cases) {
    routes.add(c.route);
    let status: number;
    let answer = '';
    try {
      const r = await fetch(`${t.url}${c.path}`, { method: c.method, headers: c.headers, body: c.body, signal: AbortSignal.timeout(30_000) });
      status = r.status;
      if ((r.headers.get('content-type') ?? '').includes('text/event-stream')) await r.body?.cancel();
      else answer = (await r.text()).slice(0, 300);
    } catch (err) {
      problems.push(`${c.route} [${c.label}] ${c.shown}: no answer (${(err as Error).message})`);
      continue;
    }
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    const now = await footprint();
    if (status >= 500) problems.push(`${c.route} [${c.label}] ${c.shown}: ${status} ${answer}`);
    else if (status >= 400) {
      if (now.credits !== last.credits) problems.push(`${c.route} [${c.label}] ${c.shown}: ${status} charged ${last.credits - now.credits} credits: ${answer}`);
      if (now.files !== last.files) problems.push(`${c.route} [${c.label}] ${c.shown}: ${status} wrote ${now.files - last.files} files: ${answer}`);
      if (now.rows !== last.rows) problems.push(`${c.route} [${c.label}] ${c.shown}: ${status} wrote ${now.rows - last.rows} rows: ${answer}`);
    }
    last = now;
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const summary = [...statuses.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s}: ${n}`).join(', ');
  console.log(`fuzz (seed ${SEED}): ${cases.length} cases over ${routes.size} routes in ${seconds} s; answers ${summary}`);
  assert.ok(cases.length >= 2000, `a few thousand cases (${cases.length})`);
  assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.join('\n')}`);
});
