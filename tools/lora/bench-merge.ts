/**
 * What merging a LoRA costs on an SD 1.5-shaped UNet (tools/bench's random-weight model, 860M
 * parameters): the time to make the merged twin, the process's peak memory, and the time to find it
 * again in the cache, against the same run's reference: reading every weight of the UNet once, as
 * loading it does (after a first read, so both find the files in the page cache). Wall and CPU
 * seconds both: on a shared machine the CPU time is the steadier figure.
 *
 * The LoRA is kohya-sized: rank 32 on every attention projection (to_q, to_k, to_v, to_out.0),
 * proj_in, proj_out and the feed-forward layers of every transformer block (the modules kohya's
 * trainer targets), random factors.
 *
 *   node --import tsx tools/lora/bench-merge.ts [--dtype fp32|fp16] [--rank 32]
 */
import { cp, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readModelFolder } from '../../src/engine/models/model-folder.ts';
import { LoraLibrary } from '../../src/engine/lora/library.ts';
import { mergedFile } from '../../src/engine/lora/merged-file.ts';
import { writeSafetensors } from '../../src/engine/lora/safetensors.ts';
import { buildTargets } from '../../src/engine/lora/targets.ts';
import { ExternalDataReader, isExternal } from '../../src/engine/onnx/external-data.ts';
import { decodeModel } from '../../src/engine/onnx/proto.ts';
import { ensureBenchModel, type Dtype } from '../bench/make.ts';
import { loraTensors, randomLora } from './make.ts';

const KOHYA_MODULES = /\.(attn[12]\.(to_q|to_k|to_v|to_out\.0)|proj_in|proj_out|ff\.net\.0\.proj|ff\.net\.2)$/;

const { values } = parseArgs({ options: { dtype: { type: 'string', default: 'fp32' }, rank: { type: 'string', default: '32' } } });
const dtype = values.dtype as Dtype;
const rank = Number(values.rank);
const { dir } = await ensureBenchModel('sd15', dtype, undefined, (m) => process.stderr.write(`${m}\n`));
const work = await mkdtemp(join(tmpdir(), 'darkroom-lora-bench-'));
try {
  // The merged twins go beside the UNet: a copy of its graph (the weights linked, not copied) keeps them out of the cached model.
  const unetDir = join(work, 'unet');
  await cp(join(dir, 'unet'), unetDir, { recursive: true, filter: (src) => !src.endsWith('model.onnx_data') });
  await symlink(join(dir, 'unet', 'model.onnx_data'), join(unetDir, 'model.onnx_data'));
  const unetPath = join(unetDir, 'model.onnx');
  const info = await readModelFolder(dir);
  const local = { ...info, components: { ...info.components, unet: unetPath } };

  const targets = buildTargets(decodeModel(await readFile(unetPath)));
  const modules = [...targets.keys()].filter((m) => KOHYA_MODULES.test(m));
  const factors = randomLora('unet', targets, modules, rank, 1);
  const loras = join(work, 'loras');
  await mkdir(loras);
  await writeSafetensors(join(loras, 'bench.safetensors'), loraTensors(factors, 'kohya'));
  const loraBytes = factors.reduce((n, f) => n + (f.up.data.byteLength + f.down.data.byteLength), 0);

  const cpu: number[] = [];
  const time = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const r = await f();
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6);
    return [r, (performance.now() - t0) / 1000];
  };
  const readAll = async () => {
    const model = decodeModel(await readFile(unetPath));
    const reader = new ExternalDataReader(unetPath, unetDir);
    let bytes = 0;
    for (const t of model.graph!.initializer!) bytes += isExternal(t) ? (await reader.read(t)).byteLength : (t.raw_data?.byteLength ?? 0);
    await reader.close();
    return bytes;
  };
  await readAll();
  const [weightBytes, plain] = await time(readAll);
  const rssAfterPlain = process.resourceUsage().maxRSS / 1024;
  const [set, fit] = await time(() => new LoraLibrary(loras).fit(local, [{ name: 'bench', weight: 0.8 }]));
  const [merged, merge] = await time(() => mergedFile(unetPath, set.unet));
  const peak = process.resourceUsage().maxRSS / 1024;
  const [, cached] = await time(() => mergedFile(unetPath, set.unet));

  const figures = {
    model: `sd15 ${dtype} UNet (${info.components.unet})`,
    lora: `rank ${rank}, ${modules.length} modules, ${(loraBytes / 1e6).toFixed(1)} MB of factors`,
    weightsMB: Math.round(weightBytes / 1e6),
    changedWeights: merged.changed,
    readEveryWeightSeconds: +plain.toFixed(2),
    readEveryWeightCpuSeconds: +cpu[0]!.toFixed(2),
    fitSeconds: +fit.toFixed(2),
    mergeSeconds: +merge.toFixed(2),
    mergeCpuSeconds: +cpu[2]!.toFixed(2),
    mergeOverReadingTheWeights: +(merge / plain).toFixed(2),
    mergeOverReadingTheWeightsCpu: +(cpu[2]! / cpu[0]!).toFixed(2),
    cachedSeconds: +cached.toFixed(3),
    peakRssMiB: Math.round(peak),
    peakRssAfterReadingMiB: Math.round(rssAfterPlain),
  };
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
} finally {
  await rm(work, { recursive: true, force: true });
}
