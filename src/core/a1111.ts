/**
 * Generation settings as AUTOMATIC1111's web UI writes them into its PNGs (the `parameters` text
 * chunk), which image browsers, CivitAI and A1111's own "PNG Info" tab read back:
 *
 *   <prompt>
 *   Negative prompt: <negative prompt>        (only when there is one, as A1111 does)
 *   Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Model: darkroom-demo
 */
import type { SchedulerName } from '../engine/schedulers/index.ts';

/** The engine's schedulers under A1111's sampler names. */
export const A1111_SAMPLERS: Readonly<Record<SchedulerName, string>> = {
  ddim: 'DDIM',
  ddpm: 'DDPM',
  pndm: 'PLMS',
  euler: 'Euler',
  euler_a: 'Euler a',
  lms: 'LMS',
  heun: 'Heun',
  dpmpp_2m: 'DPM++ 2M',
  dpmpp_2m_karras: 'DPM++ 2M Karras',
  dpmpp_2m_sde: 'DPM++ 2M SDE',
  dpmpp_2m_sde_karras: 'DPM++ 2M SDE Karras',
  unipc: 'UniPC',
  lcm: 'LCM',
};

export interface A1111Settings {
  prompt: string;
  negativePrompt?: string;
  steps: number;
  scheduler: SchedulerName;
  guidance: number;
  /** The seed of this one output. */
  seed: number;
  width: number;
  height: number;
  model: string;
  /** Image-to-image only: how much of the init image was repainted. */
  strength?: number;
  tiling?: boolean;
}

/** A value as A1111 quotes it in the settings line: JSON-quoted when it holds a comma, colon or newline. */
function quote(value: string): string {
  return /[,:\n]/.test(value) ? JSON.stringify(value) : value;
}

export function a1111Parameters(s: A1111Settings): string {
  const fields: [string, string | number][] = [
    ['Steps', s.steps],
    ['Sampler', A1111_SAMPLERS[s.scheduler] ?? s.scheduler],
    ['CFG scale', s.guidance],
    ['Seed', s.seed],
    ['Size', `${s.width}x${s.height}`],
    ['Model', s.model],
  ];
  if (s.strength !== undefined) fields.push(['Denoising strength', s.strength]);
  if (s.tiling) fields.push(['Tiling', 'True']);
  const line = fields.map(([k, v]) => `${k}: ${typeof v === 'number' ? v : quote(v)}`).join(', ');
  const negative = s.negativePrompt ? `\nNegative prompt: ${s.negativePrompt}` : '';
  return `${s.prompt}${negative}\n${line}`;
}
