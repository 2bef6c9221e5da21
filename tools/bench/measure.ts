/** Timing statistics, peak-memory sampling and a description of the machine, for the benchmark. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpus, hostname, loadavg, totalmem } from 'node:os';
import { createRequire } from 'node:module';

export interface Timing {
  medianMs: number;
  p90Ms: number;
  minMs: number;
  runs: number;
}

export function timing(samples: readonly number[]): Timing {
  if (samples.length === 0) throw new Error('no samples');
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  const p90 = s[Math.min(s.length - 1, Math.ceil(0.9 * s.length) - 1)]!;
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return { medianMs: round(median), p90Ms: round(p90), minMs: round(s[0]!), runs: s.length };
}

/** Runs `fn` `warmup` times untimed, then `runs` times timed (wall clock, ms). */
export async function timeRuns(fn: () => Promise<unknown>, warmup: number, runs: number): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

export interface MemoryReading {
  peakMemoryMB: number;
  memorySource: string;
}

/**
 * Peak memory over a phase. On CPU: the process's maximum resident set size (the kernel's
 * high-water mark, so it never goes down within a run: sweeps go from small to large). On a GPU:
 * the device's used memory polled with nvidia-smi every 50 ms (the whole device, every process),
 * when nvidia-smi is there.
 */
export class MemorySampler {
  private child?: ChildProcess;
  private peak = 0;
  private buffer = '';

  private constructor(readonly gpu: boolean) {}

  static start(provider: string): MemorySampler {
    const wantGpu = provider !== 'cpu' && hasNvidiaSmi();
    const s = new MemorySampler(wantGpu);
    if (wantGpu) {
      s.child = spawn('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits', '-lms', '50'], { stdio: ['ignore', 'pipe', 'ignore'] });
      s.child.stdout!.on('data', (chunk: Buffer) => {
        s.buffer += chunk.toString();
        const lines = s.buffer.split('\n');
        s.buffer = lines.pop() ?? '';
        for (const line of lines) {
          const mb = Number(line.trim().split(/\s+/)[0]);
          if (Number.isFinite(mb)) s.peak = Math.max(s.peak, mb);
        }
      });
      s.child.on('error', () => undefined);
    }
    return s;
  }

  /** The peak since the last reset (GPU), or the process's lifetime peak RSS (CPU). */
  read(): MemoryReading {
    if (this.gpu) return { peakMemoryMB: this.peak, memorySource: 'nvidia-smi memory.used, polled every 50 ms (whole GPU)' };
    return { peakMemoryMB: Math.round(process.resourceUsage().maxRSS / 102.4) / 10, memorySource: 'process max RSS (lifetime high-water mark)' };
  }

  /** Starts a new phase (GPU: forgets the peak so far, after letting the poller catch up). */
  async reset(): Promise<void> {
    if (!this.gpu) return;
    await new Promise((r) => setTimeout(r, 120));
    this.peak = 0;
  }

  async settle(): Promise<void> {
    if (this.gpu) await new Promise((r) => setTimeout(r, 120));
  }

  stop(): void {
    this.child?.kill();
  }
}

let smi: boolean | undefined;
export function hasNvidiaSmi(): boolean {
  smi ??= spawnSync('nvidia-smi', ['-L'], { stdio: 'ignore' }).status === 0;
  return smi;
}

export interface MachineInfo {
  hostname: string;
  cpu: string;
  cores: number;
  memoryGB: number;
  gpu: string | null;
  node: string;
  onnxruntime: string;
  platform: string;
  /** 1, 5 and 15-minute load averages when the run started (other work on the machine skews timings). */
  loadAverage: number[];
}

export function machineInfo(): MachineInfo {
  const require = createRequire(import.meta.url);
  let ortVersion = 'unknown';
  try {
    ortVersion = (require('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    // keep unknown
  }
  let gpu: string | null = null;
  if (hasNvidiaSmi()) {
    const r = spawnSync('nvidia-smi', ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader'], { encoding: 'utf8' });
    gpu = r.status === 0 ? r.stdout.trim().split('\n').join('; ') : null;
  }
  return {
    hostname: hostname(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGB: Math.round(totalmem() / 2 ** 30),
    gpu,
    node: process.version,
    onnxruntime: ortVersion,
    platform: `${process.platform}-${process.arch}`,
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}
