/** The diffusers scheduler scenarios (tools/scheduler-reference/make_fixtures.py), typed once for the tests that replay them. */
import { readFileSync } from 'node:fs';
import type { SchedulerName } from '../../../src/engine/schedulers/index.ts';
import type { SchedulerConfig } from '../../../src/engine/schedulers/types.ts';

export interface Case {
  id: string;
  scheduler: SchedulerName;
  diffusersClass: string;
  config: SchedulerConfig;
  steps: number | null;
  timesteps: number[] | null;
  start: number | null;
  seed: number | null;
  eta: number | null;
  diffusersTests: { sum: number | null; mean: number } | null;
  scheduleTimesteps: number[];
  initNoiseSigma: number;
  sum: number;
  mean: number;
  final: number[];
}

export const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/schedulers/diffusers-scenarios.json', import.meta.url), 'utf8'),
) as {
  diffusersCommit: string;
  cases: Case[];
  betaPpf: { a: number; b: number; q: number[]; x: number[]; scipy: string };
  threshold: { shape: number[]; ratio: number; sampleMaxValue: number; input: number[]; output: number[] };
};
