/**
 * Stablecog's limits and defaults (reference/peer-apis.md §1.4, the documented limits), and how
 * a Darkroom model's own defaults are brought inside them.
 */
import type { CatalogModel } from '../../core/models.ts';

export const LIMITS = {
  minSize: 256,
  maxSize: 1024,
  sizeMultiple: 8,
  /** width * height * inference_steps may not exceed this. */
  maxPixelSteps: 1024 * 1024 * 30,
  minSteps: 10,
  maxSteps: 50,
  minGuidance: 1,
  maxGuidance: 20,
  minOutputs: 1,
  maxOutputs: 4,
  maxSeed: 4294967295,
  /** Prompts are cut to this many characters, as Stablecog does. */
  maxPromptLength: 500,
} as const;

/** Stablecog's DEFAULT_GENERATE_NUM_OUTPUTS and DEFAULT_GENERATE_PROMPT_STRENGTH (code, not the older docs). */
export const DEFAULT_NUM_OUTPUTS = 2;
export const DEFAULT_PROMPT_STRENGTH = 0.5;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

function size(v: number, model: CatalogModel): number {
  const lo = Math.max(LIMITS.minSize, model.manifest.minSize);
  const hi = Math.min(LIMITS.maxSize, model.manifest.maxSize);
  const x = clamp(v, lo, Math.max(lo, hi));
  return Math.round(x / LIMITS.sizeMultiple) * LIMITS.sizeMultiple;
}

export interface StablecogDefaults {
  width: number;
  height: number;
  inferenceSteps: number;
  guidanceScale: number;
  numOutputs: number;
  promptStrength: number;
}

/** A model's defaults, inside Stablecog's bounds (a 64 px test model defaults to 256 here). */
export function defaultsFor(model: CatalogModel): StablecogDefaults {
  const d = model.manifest.defaults;
  return {
    width: size(d.width, model),
    height: size(d.height, model),
    inferenceSteps: clamp(d.steps, LIMITS.minSteps, LIMITS.maxSteps),
    guidanceScale: clamp(d.guidance, LIMITS.minGuidance, LIMITS.maxGuidance),
    numOutputs: DEFAULT_NUM_OUTPUTS,
    promptStrength: DEFAULT_PROMPT_STRENGTH,
  };
}

/** Line breaks to spaces, runs of spaces collapsed, cut to 500 characters (Stablecog's FormatPrompt). */
export function formatPrompt(s: string): string {
  return [...s.replace(/[\r\n]+/g, ' ').replace(/\s{2,}/g, ' ').trim()].slice(0, LIMITS.maxPromptLength).join('');
}
