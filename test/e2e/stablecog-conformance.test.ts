/**
 * Every Stablecog answer conforms to Stablecog's own OpenAPI document
 * (sc-go's server/openapi_token.yaml, copied unchanged below its first line to
 * test/e2e/fixtures/stablecog-openapi.yaml): real answers of
 * every route of that document that Darkroom serves, success and error, are validated against the
 * document's response schemas, as a client generated from that document would read them.
 *
 * The document marks optional fields in `format` ("optional", "isoTimeString,optional", "only if
 * ..."), and lists no `required`: here every property not so marked is required (as a client
 * generated from it assumes), the few free-text formats that name a checkable form are checked
 * (uuidv4: a UUID; isoTimeString: an ISO time; int32: its range), and extra properties are allowed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { Validator } from '@seriousme/openapi-schema-validator';
import sharp from 'sharp';
import { z } from 'zod';
import { startTestServer, makeUser, type TestServer } from '../helpers/server.ts';

const DOCUMENT = fileURLToPath(new URL('fixtures/stablecog-openapi.yaml', import.meta.url));

/** Routes of the document Darkroom does not serve (audio). */
const NOT_SERVED = ['POST /v1/audio/voiceover/create', 'GET /v1/audio/voiceover/outputs', 'GET /v1/audio/voiceover/defaults', 'GET /v1/audio/voiceover/models'];
/** Documented answers no request can draw from Darkroom: GET /v1/credits takes no input to get wrong. */
const UNREACHABLE = ['GET /v1/credits 400'];
/**
 * Properties the document does not mark optional that a correct answer may still leave out:
 * `next` is the cursor of the following page, absent on the last (as on Stablecog's own server).
 */
const CONDITIONAL = new Set(['GenerationQueryWithOutputsMeta.next']);

type Schema = Record<string, unknown>;
interface Spec {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: Schema }> }> }>>;
  components: { schemas: Record<string, Schema> };
}

let spec: Spec;
let t: TestServer;
before(async () => {
  const validator = new Validator();
  const result = await validator.validate(DOCUMENT);
  assert.equal(result.valid, true, `the reference document is valid OpenAPI: ${JSON.stringify(result.errors)}`);
  spec = validator.specification as unknown as Spec;
  t = await startTestServer();
});
after(() => t?.close());

function isOptional(schema: Schema): boolean {
  const format = typeof schema['format'] === 'string' ? schema['format'].toLowerCase() : '';
  return format.includes('optional') || format.includes('only if');
}

const INT32 = { minimum: -(2 ** 31), maximum: 2 ** 31 - 1 };

/** The document's schema as a JSON Schema with the reading above (`where` names it for CONDITIONAL). */
function toJsonSchema(schema: Schema, where: string): Schema {
  let s = schema;
  let name = where;
  if (typeof s['$ref'] === 'string') {
    const ref = s['$ref'];
    name = ref.replace('#/components/schemas/', '');
    const { $ref: _, ...siblings } = s;
    s = { ...spec.components.schemas[name], ...siblings };
    assert.ok(spec.components.schemas[name], `${ref} resolves`);
  }
  const out: Schema = {};
  for (const [k, v] of Object.entries(s)) {
    switch (k) {
      case 'type':
      case 'default':
      case 'description':
      case 'example':
        if (k === 'type') out[k] = v;
        break;
      case 'format': {
        const f = String(v);
        if (f === 'uuidv4') out['format'] = 'uuid';
        else if (/^isoTimeString\b/.test(f)) out['format'] = 'date-time';
        else if (/^int32\b/.test(f)) Object.assign(out, INT32);
        break; // any other format is prose
      }
      case 'properties': {
        const props = v as Record<string, Schema>;
        out['properties'] = Object.fromEntries(Object.entries(props).map(([p, ps]) => [p, toJsonSchema(ps, `${name}.${p}`)]));
        out['required'] = Object.entries(props)
          .filter(([p, ps]) => !isOptional(ps) && !CONDITIONAL.has(`${name}.${p}`))
          .map(([p]) => p);
        break;
      }
      case 'items':
        out['items'] = toJsonSchema(v as Schema, `${name}[]`);
        break;
      case 'oneOf':
        out['oneOf'] = (v as Schema[]).map((o, i) => toJsonSchema(o, `${name}|${i}`));
        break;
      case 'required':
        break; // derived above
      default:
        assert.fail(`${where}: keyword ${k} is not handled by this check`);
    }
  }
  return out;
}

const checked = new Set<string>();

/** Validates a real answer against the document's schema for its route and status. */
async function conforms(path: string, method: string, res: Response, expectStatus: number): Promise<unknown> {
  const text = await res.text();
  assert.equal(res.status, expectStatus, `${method} ${path}: ${text}`);
  const op = spec.paths[path]?.[method.toLowerCase()];
  assert.ok(op, `${method} ${path} is in the document`);
  const documented = op.responses[String(res.status)];
  assert.ok(documented, `${method} ${path} answered ${res.status}, which the document does not list`);
  checked.add(`${method} ${path} ${res.status}`);
  const schema = documented.content?.['application/json']?.schema;
  if (!schema) return undefined; // documented without a body (GET /v1/health)
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = JSON.parse(text) as unknown;
  const json = toJsonSchema(schema, `${method} ${path} ${res.status}`);
  const result = z.fromJSONSchema(json as Parameters<typeof z.fromJSONSchema>[0]).safeParse(body);
  assert.ok(result.success, `${method} ${path} ${res.status} does not conform:\n${JSON.stringify(result.error?.issues, null, 1)}\n${text}`);
  return body;
}

test('the check refuses what the document refuses: a missing field, a wrong type, an id that is no UUID, a time that is no ISO time', () => {
  const schema = spec.paths['/v1/image/generation/outputs']!.get!.responses['200']!.content!['application/json']!.schema;
  const check = (body: unknown) => z.fromJSONSchema(toJsonSchema(schema, 'outputs') as Parameters<typeof z.fromJSONSchema>[0]).safeParse(body).success;
  const output = (patch: Record<string, unknown> = {}, generation: Record<string, unknown> = {}) => ({
    id: randomUUID(),
    image_url: 'http://x/a.png',
    gallery_status: 'not_submitted',
    ...patch,
    generation: {
      id: randomUUID(), width: 512, height: 512, inference_steps: 30, guidance_scale: 7, model_id: randomUUID(), scheduler_id: randomUUID(),
      prompt: { id: randomUUID(), text: 'p' }, seed: 1, created_at: '2024-01-01T00:00:00.000Z',
      outputs: [{ id: randomUUID(), image_url: 'http://x/a.png', gallery_status: 'not_submitted', is_favorited: false, was_auto_submitted: false }],
      ...generation,
    },
  });
  assert.equal(check({ outputs: [output()] }), true);
  assert.equal(check({ outputs: [output({}, { outputs: undefined })] }), false);
  assert.equal(check({ outputs: [output({ id: 'not-a-uuid' })] }), false);
  assert.equal(check({ outputs: [output({}, { width: '512' })] }), false);
  assert.equal(check({ outputs: [output({}, { width: 2 ** 31 })] }), false);
  assert.equal(check({ outputs: [output({}, { created_at: 'yesterday' })] }), false);
  assert.equal(check({ outputs: [output({}, { negative_prompt: { id: randomUUID(), text: 'n' } })] }), true, 'an optional field may be present');
  assert.equal(check({ next: {}, outputs: [] }), false, 'next is a string or an integer');
});

async function png(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 20, g: 140, b: 90 } } }).png().toBuffer();
}

test('every answer of every Stablecog route Darkroom serves conforms to Stablecog\'s OpenAPI document', async () => {
  const u = await makeUser(t, 'conformance', 50);
  const auth = { key: u.key };

  await conforms('/v1/health', 'GET', await t.api('/v1/health'), 200);

  // Models and defaults (no key needed).
  await conforms('/v1/image/generation/models', 'GET', await fetch(`${t.url}/v1/image/generation/models`), 200);
  const defaults = (await conforms('/v1/image/generation/defaults', 'GET', await fetch(`${t.url}/v1/image/generation/defaults`), 200)) as { width: number; height: number };
  await conforms('/v1/image/upscale/models', 'GET', await fetch(`${t.url}/v1/image/upscale/models`), 200);
  await conforms('/v1/image/upscale/defaults', 'GET', await fetch(`${t.url}/v1/image/upscale/defaults`), 200);

  // Upload: an image, and not an image.
  const form = (bytes: Buffer) => {
    const f = new FormData();
    f.set('file', new Blob([new Uint8Array(bytes)], { type: 'image/png' }), 'in.png');
    return f;
  };
  const uploaded = (await conforms('/v1/image/upload', 'POST', await t.api('/v1/image/upload', { method: 'POST', ...auth, body: form(await png(256, 256)) }), 200)) as { object: string };
  await conforms('/v1/image/upload', 'POST', await t.api('/v1/image/upload', { method: 'POST', ...auth, body: form(Buffer.from('not an image')) }), 400);

  // Generation create: text-to-image (2 outputs, a negative prompt), image-to-image; bad input; no key.
  const create = '/v1/image/generation/create';
  const two = (await conforms(create, 'POST', await t.api(create, { method: 'POST', ...auth, json: { prompt: 'two of them', negative_prompt: 'blur', num_outputs: 2, width: defaults.width, height: defaults.height, seed: 5 } }), 200)) as { outputs: { id: string }[] };
  await conforms(create, 'POST', await t.api(create, { method: 'POST', ...auth, json: { prompt: 'from an upload', num_outputs: 1, init_image_url: uploaded.object } }), 200);
  await conforms(create, 'POST', await t.api(create, { method: 'POST', ...auth, json: { prompt: 'too many', num_outputs: 9 } }), 400);
  await conforms(create, 'POST', await t.api(create, { method: 'POST', ...auth, json: { prompt: 'x', model_id: randomUUID() } }), 400);
  await conforms(create, 'POST', await t.api(create, { method: 'POST', key: '', json: { prompt: 'no key' } }), 401);

  // Upscale create: an output, an upload; an unknown output; no key.
  const upscale = '/v1/image/upscale/create';
  await conforms(upscale, 'POST', await t.api(upscale, { method: 'POST', ...auth, json: { input: two.outputs[0]!.id } }), 200);
  await conforms(upscale, 'POST', await t.api(upscale, { method: 'POST', ...auth, json: { input: uploaded.object } }), 200);
  await conforms(upscale, 'POST', await t.api(upscale, { method: 'POST', ...auth, json: { input: randomUUID() } }), 400);
  await conforms(upscale, 'POST', await t.api(upscale, { method: 'POST', key: 'sk-not-a-key', json: { input: two.outputs[0]!.id } }), 401);

  // Outputs: the first page (total), a page with a next cursor, the page after it; filters; bad query; no key.
  const outputs = '/v1/image/generation/outputs';
  const all = (await conforms(outputs, 'GET', await t.api(outputs, auth), 200)) as {
    total: number;
    outputs: { id: string; upscaled_image_url?: string; generation: { id: string; negative_prompt?: unknown; init_image_url?: string; outputs: { id: string; image_url: string }[] } }[];
  };
  assert.equal(all.total, 3);
  // The answer says what the document promises: every output's generation lists that generation's outputs.
  const pair = all.outputs.filter((o) => o.generation.id === all.outputs.find((x) => x.id === two.outputs[0]!.id)!.generation.id);
  assert.equal(pair.length, 2);
  for (const o of pair) assert.deepEqual(o.generation.outputs.map((s) => s.id).sort(), two.outputs.map((s) => s.id).sort());
  assert.ok(all.outputs.some((o) => o.upscaled_image_url), 'an upscaled output is in the list');
  assert.ok(all.outputs.some((o) => o.generation.negative_prompt), 'a negative prompt is in the list');
  assert.ok(all.outputs.some((o) => o.generation.init_image_url), 'an image-to-image generation is in the list');
  for (const o of all.outputs) for (const s of o.generation.outputs) assert.equal((await fetch(s.image_url)).status, 200, 'a sibling URL works');
  const page1 = (await conforms(outputs, 'GET', await t.api(`${outputs}?per_page=2`, auth), 200)) as { next?: string };
  assert.ok(page1.next, 'a next cursor');
  await conforms(outputs, 'GET', await t.api(`${outputs}?per_page=2&cursor=${encodeURIComponent(page1.next!)}`, auth), 200);
  await conforms(outputs, 'GET', await t.api(`${outputs}?upscaled=only&order=asc&widths=${defaults.width}`, auth), 200);
  await conforms(outputs, 'GET', await t.api(`${outputs}?per_page=abc`, auth), 400);
  await conforms(outputs, 'GET', await t.api(outputs, { key: '' }), 401);

  // Credits.
  await conforms('/v1/credits', 'GET', await t.api('/v1/credits', auth), 200);
  await conforms('/v1/credits', 'GET', await t.api('/v1/credits', { key: 'sk-not-a-key' }), 401);

  // Every documented answer of every route Darkroom serves was drawn and checked.
  const documented = Object.entries(spec.paths).flatMap(([path, ops]) =>
    Object.entries(ops)
      .filter(([method]) => !NOT_SERVED.includes(`${method.toUpperCase()} ${path}`))
      .flatMap(([method, op]) => Object.keys(op.responses).map((status) => `${method.toUpperCase()} ${path} ${status}`)),
  );
  assert.deepEqual(documented.filter((r) => !UNREACHABLE.includes(r)).sort(), [...checked].sort());
  // And the routes called not served are indeed not served.
  for (const route of NOT_SERVED) {
    const [method, path] = route.split(' ');
    assert.equal((await t.api(path!, { method, ...auth, ...(method === 'POST' ? { json: {} } : {}) })).status, 404, `${route} is not served`);
  }
});
