import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { Engine } from '../../src/engine/engine.ts';
import { ModelFormatError } from '../../src/engine/errors.ts';
import { filesToDownload, installModel, parseHubSource } from '../../src/engine/models/install.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';

const run = promisify(execFile);
const bin = new URL('../../bin/darkroom.mjs', import.meta.url).pathname;
let root = '';
let hub: Server;
let endpoint = '';
const requests: { url: string; auth?: string }[] = [];

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

/**
 * A stand-in for the Hugging Face Hub's HTTP API, serving repositories from folders: what an offline
 * machine can run. test/tiny-sd1 is public, test/gated needs the token "secret", test/no-unet lacks a file.
 */
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'darkroom-install-'));
  const tiny = join(root, 'repo-tiny');
  await cp(await testModelDir('tiny-sd1'), tiny, { recursive: true, dereference: true });
  // Files a real repository also holds, which the install must not fetch.
  await writeFile(join(tiny, 'README.md'), '# tiny');
  await writeFile(join(tiny, 'unet', 'diffusion_pytorch_model.safetensors'), 'weights for torch');
  const broken = join(root, 'repo-no-unet');
  await cp(tiny, broken, { recursive: true });
  await rm(join(broken, 'unet', 'model.onnx'));
  const repos: Record<string, string> = { 'test/tiny-sd1': tiny, 'test/gated': tiny, 'test/no-unet': broken };
  hub = createServer(async (req, res) => {
    requests.push({ url: req.url!, auth: req.headers.authorization });
    const list = /^\/api\/models\/(\w+\/[\w-]+)\/revision\/main$/.exec(req.url!);
    const file = /^\/(\w+\/[\w-]+)\/resolve\/main\/(.+)$/.exec(req.url!);
    const repo = list?.[1] ?? file?.[1];
    const dir = repo ? repos[repo] : undefined;
    if (!dir) return void res.writeHead(404).end();
    if (repo === 'test/gated' && req.headers.authorization !== 'Bearer secret') return void res.writeHead(401).end();
    if (list) {
      const siblings = (await listFiles(dir)).map((rfilename) => ({ rfilename }));
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: repo, siblings }));
    }
    try {
      res.writeHead(200).end(await readFile(join(dir, decodeURIComponent(file![2]!))));
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => hub.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise((resolve) => hub.close(resolve));
  await rm(root, { recursive: true, force: true });
});

test('sources: hf:owner/name, @revision, huggingface.co URLs; anything else is a path', () => {
  assert.deepEqual(parseHubSource('hf:runwayml/stable-diffusion-v1-5'), { repo: 'runwayml/stable-diffusion-v1-5', revision: 'main' });
  assert.deepEqual(parseHubSource('hf:runwayml/stable-diffusion-v1-5@onnx'), { repo: 'runwayml/stable-diffusion-v1-5', revision: 'onnx' });
  assert.deepEqual(parseHubSource('https://huggingface.co/stabilityai/sdxl-turbo/tree/onnx'), { repo: 'stabilityai/sdxl-turbo', revision: 'onnx' });
  assert.equal(parseHubSource('./models/my-model'), undefined);
  assert.equal(parseHubSource('/abs/path'), undefined);
});

test('only the ONNX layout is downloaded: no torch weights, no README', () => {
  assert.deepEqual(
    filesToDownload(['README.md', 'model_index.json', 'unet/model.onnx', 'unet/model.onnx_data', 'unet/diffusion_pytorch_model.safetensors', 'tokenizer/merges.txt', 'tokenizer/vocab.json', 'safety_checker/model.onnx', 'unet/sub/x.json']),
    ['model_index.json', 'unet/model.onnx', 'unet/model.onnx_data', 'tokenizer/merges.txt', 'tokenizer/vocab.json'],
  );
});

test('darkroom models install hf:… downloads the layout, checks it, and the model generates', async () => {
  const data = join(root, 'data-cli');
  const env = { ...process.env, DARKROOM_DATA_DIR: data, HF_ENDPOINT: endpoint, HF_TOKEN: '' };
  const out = await run(process.execPath, [bin, 'models', 'install', 'hf:test/tiny-sd1', '--name', 'tiny'], { env });
  assert.match(out.stdout, /unet\/model\.onnx \([\d.]+ MB\)/);
  assert.match(out.stdout, /installed tiny-sd1 \(sd1\) in .*models\/tiny\n/);
  const dir = join(data, 'models', 'tiny');
  const files = await listFiles(dir);
  assert.ok(files.includes('unet/model.onnx') && files.includes('model_index.json'));
  assert.ok(!files.includes('README.md') && !files.includes('unet/diffusion_pytorch_model.safetensors'), files.join(', '));
  assert.ok(!requests.some((r) => r.url.endsWith('.safetensors')), 'what is not needed is not even fetched');
  const engine = new Engine({ modelDirs: [join(data, 'models')], provider: 'cpu', threads: 1 });
  try {
    const { images } = await engine.generate('tiny', { prompt: 'a cat', steps: 2, seed: 1 });
    assert.equal(images.length, 1);
  } finally {
    await engine.dispose();
  }
  // Installing again under the same name is refused, not merged.
  await assert.rejects(run(process.execPath, [bin, 'models', 'install', 'hf:test/tiny-sd1', '--name', 'tiny'], { env }), /exists already/);
});

test('with float16 on, install makes the twins and says so', async () => {
  const data = join(root, 'data-fp16');
  const env = { ...process.env, DARKROOM_DATA_DIR: data, HF_ENDPOINT: endpoint, DARKROOM_FP16: 'true' };
  const out = await run(process.execPath, [bin, 'models', 'install', 'hf:test/tiny-sd1'], { env });
  assert.match(out.stdout, /tiny-sd1 unet: float16 \(.*\) \(.*models\/tiny-sd1\/unet\/model\.fp16\.onnx\)/);
});

test('a gated repository needs the token; a repository missing a file leaves nothing behind', async () => {
  const models = join(root, 'models-api');
  await assert.rejects(installModel('hf:test/gated', models, 'g', { endpoint, token: '' }), /HTTP 401 \(a gated or private repository needs HF_TOKEN\)/);
  const info = await installModel('hf:test/gated', models, 'g', { endpoint, token: 'secret' });
  assert.equal(info.dir, join(models, 'g'));
  assert.ok(requests.filter((r) => r.url.includes('test/gated')).every((r) => r.auth === undefined || r.auth === 'Bearer secret'));
  await assert.rejects(installModel('hf:test/no-unet', models, 'n', { endpoint }), (err: unknown) => err instanceof ModelFormatError && /missing unet\/model\.onnx/.test(err.message));
  assert.deepEqual((await readdir(models)).sort(), ['g'], 'no half-installed folder');
  await assert.rejects(installModel('hf:test/absent', models, 'a', { endpoint }), /cannot list test\/absent@main: HTTP 404/);
});

test('a local folder installs by copy', async () => {
  const models = join(root, 'models-local');
  const info = await installModel(await testModelDir('tiny-sdxl'), models, 'xl');
  assert.equal(info.manifest.family, 'sdxl');
  assert.ok(info.components.textEncoder2?.startsWith(join(models, 'xl')));
  await assert.rejects(installModel(join(root, 'nowhere'), models, 'x'), /not a model folder/);
  await assert.rejects(installModel(await testModelDir('tiny-sd1'), models, '../escape'), /not a usable folder name/);
});
