/**
 * One table from Darkroom's bench JSON and the PyTorch reference's JSON of the same run, with the
 * ratios the issue asks for (against PyTorch eager on the same machine) and the targets.
 *
 *   node --import tsx tools/bench/combine.ts darkroom.json torch.json > summary.md
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

interface AnyTiming {
  medianMs: number;
  p90Ms: number;
  peakMemoryMB?: number;
}
interface AnyEntry {
  runtime: string;
  provider: string;
  opt: string;
  label: string;
  unet: (AnyTiming & { batch: number; prepared?: AnyTiming })[];
  endToEnd?: AnyTiming & { breakdown?: { unetMs: number; otherMs: number } };
  throughput: (AnyTiming & { images: number; imagesPerSecond: number })[];
  errors: string[];
}
export interface AnyReport {
  tool: string;
  date: string;
  command: string;
  machine: Record<string, unknown>;
  shape: string;
  dtype: string;
  size: number;
  steps: number;
  guidance: number;
  runs: AnyEntry[];
}

/** The targets (SD 1.5, 512x512, 20 steps, fp16, one H100). */
export const TARGETS = { latencyMs: 400, imagesPerSecond: 11, latencyRatio: 1.1, throughputRatio: 1.5 };

const f = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

const best = (e: AnyEntry) => Math.max(0, ...e.throughput.map((t) => t.imagesPerSecond));

export function combineReports(reports: AnyReport[]): string {
  const runs = reports.flatMap((r) => r.runs.filter((e) => e.errors.length === 0 || e.unet.length > 0));
  const first = reports[0]!;
  const out: string[] = [];
  const gpu = reports.map((r) => r.machine['gpu']).find((g) => g) ?? 'none';
  out.push(`**${first.shape} ${first.dtype}, ${first.size}x${first.size}, ${first.steps} steps, guidance ${first.guidance}** — ${first.date.slice(0, 10)}, GPU: ${String(gpu)}`);
  out.push('');
  for (const r of reports) out.push(`- \`${r.command}\``);
  out.push('');
  const key = (r: AnyReport) => `${r.shape} ${r.dtype} ${r.size}px ${r.steps} steps guidance ${r.guidance}`;
  const mismatched = reports.filter((r) => key(r) !== key(first));
  if (mismatched.length) {
    out.push(`**Not comparable** (no ratios): ${[...new Set(reports.map(key))].join(' vs ')}`, '');
  }
  const comparable = mismatched.length === 0;

  const batches = [...new Set(runs.flatMap((e) => e.unet.map((u) => u.batch)))].sort((a, b) => a - b);
  out.push('UNet forward, median ms (Darkroom: engine path, host I/O every call; prepared inputs in brackets)', '');
  out.push(
    table(
      ['runtime', ...batches.map((b) => `batch ${b}`)],
      runs.map((e) => [
        e.label,
        ...batches.map((b) => {
          const u = e.unet.find((x) => x.batch === b);
          if (!u) return '–';
          return u.prepared ? `${f(u.medianMs, 2)} (${f(u.prepared.medianMs, 2)})` : f(u.medianMs, 2);
        }),
      ]),
    ),
  );
  out.push('');

  const images = [...new Set(runs.flatMap((e) => e.throughput.map((t) => t.images)))].sort((a, b) => a - b);
  const eager = comparable ? runs.find((e) => e.runtime === 'pytorch' && e.opt === 'eager') : undefined;
  out.push(`End to end and throughput${eager ? ' (ratios against PyTorch eager in the same run)' : ''}`, '');
  const header = ['runtime', '1 image ms', ...images.map((n) => `img/s @${n}`), 'peak MB'];
  if (eager) header.push('latency ×', 'throughput ×');
  out.push(
    table(
      header,
      runs.map((e) => {
        const peak = Math.max(0, ...e.unet.map((u) => u.peakMemoryMB ?? 0), e.endToEnd?.peakMemoryMB ?? 0, ...e.throughput.map((t) => t.peakMemoryMB ?? 0));
        const row = [e.label, f(e.endToEnd?.medianMs), ...images.map((n) => f(e.throughput.find((t) => t.images === n)?.imagesPerSecond, 2)), peak ? f(peak, 0) : '–'];
        if (eager) {
          row.push(f(eager.endToEnd && e.endToEnd ? eager.endToEnd.medianMs / e.endToEnd.medianMs : undefined, 2));
          row.push(f(best(eager) ? best(e) / best(eager) : undefined, 2));
        }
        return row;
      }),
    ),
  );
  out.push('');

  const ours = runs.filter((e) => e.runtime === 'darkroom' && e.endToEnd);
  const targetRun = first.shape.startsWith('sd15') && first.size === 512 && first.steps === 20 && first.dtype === 'fp16' && first.guidance === 7.5;
  if (ours.length && !targetRun) {
    out.push('Targets: the issue\'s targets are for the sd15 shape, fp16, 512x512, 20 steps, guidance 7.5 on an H100; not evaluated for this run.', '');
  }
  if (ours.length && targetRun) {
    const fastest = ours.reduce((a, b) => (a.endToEnd!.medianMs <= b.endToEnd!.medianMs ? a : b));
    const widest = ours.reduce((a, b) => (best(a) >= best(b) ? a : b));
    const mark = (ok: boolean) => (ok ? 'met' : 'not met');
    out.push('Targets (issue 5: SD 1.5 shape, 512x512, 20 steps, fp16, one H100)', '');
    const lat = fastest.endToEnd!.medianMs;
    out.push(`- latency ≤ ${TARGETS.latencyMs} ms: ${f(lat)} ms (${fastest.label}) — ${mark(lat <= TARGETS.latencyMs)}`);
    out.push(`- throughput ≥ ${TARGETS.imagesPerSecond} images/s: ${f(best(widest), 2)} (${widest.label}) — ${mark(best(widest) >= TARGETS.imagesPerSecond)}`);
    if (eager?.endToEnd) {
      const lr = eager.endToEnd.medianMs / lat;
      const tr = best(eager) ? best(widest) / best(eager) : NaN;
      out.push(`- latency ≥ ${TARGETS.latencyRatio}x PyTorch eager: ${f(lr, 2)}x — ${mark(lr >= TARGETS.latencyRatio)}`);
      out.push(`- throughput ≥ ${TARGETS.throughputRatio}x PyTorch eager: ${f(tr, 2)}x — ${mark(tr >= TARGETS.throughputRatio)}`);
    }
    out.push('');
  }
  const errors = reports.flatMap((r) => r.runs.flatMap((e) => e.errors.map((m) => `- ${e.label}: ${m}`)));
  if (errors.length) out.push('Errors', '', ...errors, '');
  return out.join('\n');
}

async function main(files: string[]): Promise<void> {
  if (files.length === 0) {
    console.error('usage: node --import tsx tools/bench/combine.ts <report.json>...');
    process.exit(2);
  }
  const reports = await Promise.all(files.map(async (p) => JSON.parse(await readFile(p, 'utf8')) as AnyReport));
  process.stdout.write(combineReports(reports));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
