/** What both Stability routes share: one image from a prompt, style and size, on the default model, at a tariff. */
import type { Context } from 'hono';
import type { GenerationResult, GenerationSpec } from '../../core/generations.ts';
import type { CatalogModel } from '../../core/models.ts';
import type { Tariff } from '../../core/pricing.ts';
import { randomSeed } from '../../core/random.ts';
import { applyStyle, STABILITY_STYLES, type StabilityStyle } from '../../core/style-presets.ts';
import type { ApiServices, Env } from '../env.ts';

export interface StabilityRequest {
  prompt: string;
  negativePrompt?: string;
  stylePreset?: StabilityStyle;
  seed?: number;
  width: number;
  height: number;
}

export async function generateOne(
  c: Context<Env>,
  services: ApiServices,
  model: CatalogModel,
  req: StabilityRequest,
  tariff: Tariff,
  route: string,
): Promise<GenerationResult> {
  const styled = applyStyle(req.stylePreset ? STABILITY_STYLES[req.stylePreset] : undefined, req.prompt, req.negativePrompt ?? '');
  const d = model.manifest.defaults;
  const spec: GenerationSpec = {
    model: model.id,
    scheduler: d.scheduler,
    prompt: styled.prompt,
    negativePrompt: styled.negativePrompt,
    width: req.width,
    height: req.height,
    steps: d.steps,
    guidance: d.guidance,
    seed: req.seed ? req.seed : randomSeed(),
    numOutputs: 1,
    tariff,
    ...(styled.tiling && model.manifest.tiling ? { tiling: true } : {}),
  };
  return services.generations.run(c.get('auth'), spec, {
    source: 'api',
    dialect: 'stability',
    extra: { route, prompt: req.prompt, ...(req.stylePreset ? { style_preset: req.stylePreset } : {}) },
    requestId: c.get('requestId'),
  });
}
