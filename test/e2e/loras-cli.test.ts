/**
 * The LoRA commands a user types: `darkroom loras install` from a file and from the Hugging Face Hub
 * (a local stand-in for its HTTP API, through HF_ENDPOINT), `darkroom loras` lists them, and
 * `darkroom generate --lora name:weight` (or a <lora:...> tag in the prompt) applies one: the demo
 * model's blue square comes out red. Bad flags are refused naming the flag.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cp, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { SHIPPED_MODELS_DIR } from '../../src/config/config.ts';
import { writeSafetensors } from '../../src/engine/lora/safetensors.ts';
import { detect } from '../../tools/demo-model/detector.ts';
import { blueToRed, loraTensors } from '../../tools/lora/make.ts';
import { BIN } from '../helpers/cli.ts';

const run = promisify(execFile);
let root = '';
let hub: Server;
let env: NodeJS.ProcessEnv;
const requests: string[] = [];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'darkroom-lora-cli-'));
  await cp(join(SHIPPED_MODELS_DIR, 'darkroom-demo'), join(root, 'data', 'models', 'darkroom-demo'), { recursive: true });
  const repo = join(root, 'hub', 'someone', 'colours');
  await mkdir(repo, { recursive: true });
  await writeSafetensors(join(repo, 'blue-to-red.safetensors'), loraTensors(await blueToRed(join(root, 'data', 'models', 'darkroom-demo')), 'peft'), { ss_base_model_version: 'sd_v1' });
  hub = createServer(async (req, res) => {
    requests.push(req.url!);
    const list = /^\/api\/models\/(\w+\/\w+)\/revision\/main$/.exec(req.url!);
    const file = /^\/(\w+\/\w+)\/resolve\/main\/(.+)$/.exec(req.url!);
    try {
      if (list) {
        const siblings = (await readdir(join(root, 'hub', list[1]!))).map((rfilename) => ({ rfilename }));
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ siblings: [{ rfilename: 'README.md' }, ...siblings] }));
      }
      if (file) return void res.writeHead(200).end(await readFile(join(root, 'hub', file[1]!, decodeURIComponent(file[2]!))));
    } catch {
      // not there
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => hub.listen(0, '127.0.0.1', resolve));
  env = { ...process.env, DARKROOM_DATA_DIR: join(root, 'data'), DARKROOM_DEFAULT_MODEL: 'darkroom-demo', HF_ENDPOINT: `http://127.0.0.1:${(hub.address() as AddressInfo).port}`, HF_TOKEN: '' };
});
after(async () => {
  await new Promise((resolve) => hub.close(resolve));
  await rm(root, { recursive: true, force: true });
});

async function read(path: string): Promise<string> {
  const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const d = detect(new Uint8Array(data), info.width, info.height);
  return `${d.color} ${d.shape} on ${d.background}`;
}

test('loras install from the Hub (the one .safetensors of the repository) and from a file; loras lists them', async () => {
  const hubbed = await run(process.execPath, [BIN, 'loras', 'install', 'hf:someone/colours'], { env });
  assert.match(hubbed.stdout, /blue-to-red\.safetensors \(1\.2 MB\)\ninstalled blue-to-red \(10 modules: unet; sd1\) in .*data\/loras\/blue-to-red\.safetensors\n/);
  assert.deepEqual(requests, ['/api/models/someone/colours/revision/main', '/someone/colours/resolve/main/blue-to-red.safetensors']);
  const copied = await run(process.execPath, [BIN, 'loras', 'install', join(root, 'data', 'loras', 'blue-to-red.safetensors'), '--name', 'again'], { env });
  assert.match(copied.stdout, /installed again \(10 modules: unet; sd1\)/);
  const listed = JSON.parse((await run(process.execPath, [BIN, 'loras', '--json'], { env })).stdout) as { name: string; family: string; uuid: string }[];
  assert.deepEqual(listed.map((l) => [l.name, l.family]), [['again', 'sd1'], ['blue-to-red', 'sd1']]);
  await assert.rejects(run(process.execPath, [BIN, 'loras', 'install', 'hf:someone/colours', '--name', 'again'], { env }), /--name: .*again\.safetensors exists already/);
  await assert.rejects(run(process.execPath, [BIN, 'loras', 'install', 'hf:someone/nothing'], { env }), /<source>: cannot list someone\/nothing@main: HTTP 404/);
  assert.deepEqual((await readdir(join(root, 'data', 'loras'))).sort(), ['again.safetensors', 'blue-to-red.safetensors'], 'a failed install leaves nothing');
});

test('generate --lora name:weight and a <lora:name> prompt tag turn the blue square red; a bad --lora names the flag', async () => {
  const out = (name: string) => join(root, `${name}.png`);
  const args = ['generate', '--seed', '1'];
  await run(process.execPath, [BIN, ...args, 'a blue square on the left on black', '-o', out('base')], { env });
  await run(process.execPath, [BIN, ...args, 'a blue square on the left on black', '--lora', 'blue-to-red:1', '-o', out('flag')], { env });
  await run(process.execPath, [BIN, ...args, 'a blue square on the left on black <lora:again>', '-o', out('tag')], { env });
  assert.equal(await read(out('base')), 'blue square on black');
  assert.equal(await read(out('flag')), 'red square on black');
  assert.equal(await read(out('tag')), 'red square on black');
  await assert.rejects(run(process.execPath, [BIN, ...args, 'x', '--lora', 'absent', '-o', out('x')], { env }), /--lora: unknown LoRA "absent" \(installed: again, blue-to-red\)/);
  await assert.rejects(run(process.execPath, [BIN, ...args, 'x', '--lora', 'blue-to-red:lots', '-o', out('x')], { env }), /^darkroom: --lora: expected name or name:weight, the weight a number, got "blue-to-red:lots"$/m);
});
