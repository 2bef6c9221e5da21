/**
 * What onnxruntime-node's IO binding does with a provider (issue 17: can the UNet's output stay on
 * the device between denoising steps?). One UNet forward on host inputs is the reference; then the
 * same forward in a session with preferredOutputLocation 'gpu-buffer', its output kept: where it
 * came back (its location), whether it reads back equal, and whether it can be fed, as kept, into a
 * second forward that equals the same forward fed from the host. Every step's failure is recorded,
 * not thrown: the report is the finding.
 *
 *   node --import tsx tools/bench/io-binding.ts --model <bench model folder> [--provider cuda] [--json out.json]
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { OnnxSession, type ExecutionProvider, type Output, type SessionValue } from '../../src/engine/runtime/session.ts';
import { unetFeeds } from './run.ts';

export interface IoBindingReport {
  provider: string;
  /** The kept output's Tensor.location ('gpu-buffer': on the device; 'cpu': the binding brought it back). */
  keptLocation?: string;
  /** Largest difference between the kept output read back and the host run's output. */
  keptMaxDiff?: number;
  /** Largest difference between a forward fed the kept output and one fed the same values from the host. */
  chainedMaxDiff?: number;
  errors: string[];
}

const maxDiff = (a: Output, b: Output) => a.data.reduce((m, x, i) => Math.max(m, Math.abs(x - b.data[i]!)), 0);

export async function probeIoBinding(modelDir: string, provider: ExecutionProvider, size = 64): Promise<IoBindingReport> {
  const report: IoBindingReport = { provider, errors: [] };
  const file = join(modelDir, 'unet', 'model.onnx');
  const attempt = async <T>(what: string, work: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await work();
    } catch (err) {
      report.errors.push(`${what}: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
      return undefined;
    }
  };
  const host = await OnnxSession.load(file, { provider });
  const bound = await attempt('load with gpu-buffer outputs', () => OnnxSession.load(file, { provider, tuning: { preferredOutputLocation: 'gpu-buffer' } }));
  let kept: SessionValue | undefined;
  try {
    const feeds = unetFeeds(host, 1, size / 8, size / 8);
    const out = host.outputs[0]!.name;
    const reference = (await host.run(feeds))[out]!;
    if (!bound) return report;
    kept = (await attempt('run keeping the output', async () => (await bound.runKeeping(feeds, [out], [out])).kept[out]))!;
    if (!kept) return report;
    report.keptLocation = kept.location;
    const read = await attempt('read the kept output', () => bound.read(kept!));
    if (read) report.keptMaxDiff = maxDiff(read, reference);
    const chained = await attempt('feed the kept output to a second run', async () => (await bound.runKeeping({ ...feeds, sample: kept! }, [out])).host[out]!);
    if (chained && read) report.chainedMaxDiff = maxDiff(chained, (await host.run({ ...feeds, sample: read }))[out]!);
    return report;
  } finally {
    kept?.dispose();
    await bound?.dispose();
    await host.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { model: { type: 'string' }, provider: { type: 'string', default: 'cpu' }, size: { type: 'string', default: '64' }, json: { type: 'string' } } });
  if (!values.model) throw new Error('--model <bench model folder> is required');
  const report = await probeIoBinding(values.model, values.provider as ExecutionProvider, Number(values.size));
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  if (values.json) await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
}
