/**
 * Install-time optimisation of a model's ONNX files, each step cached as a twin next to the file it
 * read (derived-file.ts), so the steps chain: `model.onnx` → `model.optimized.onnx` (attention fused
 * into MultiHeadAttention, fuse-attention.ts; other fusion sets are `model.optimized-<set>.onnx`,
 * fuse-set.ts) → `model.optimized.fp16.onnx` (float16, half-precision.ts).
 * Fusing first keeps each attention's scale exact. A step with nothing to do leaves the file as it is.
 */
import { dirname } from 'node:path';
import { ExternalDataReader } from '../onnx/external-data.ts';
import { derivedModelFile } from './derived-file.ts';
import { DEFAULT_FUSIONS, type FusionName } from './fuse-names.ts';
import { applyFusions, describeFusions, fusionTag, readSmallTensors, tensorReader } from './fuse-set.ts';
import { float16File, float16Refused } from './half-precision.ts';
import type { ModelComponents, ModelInfo } from './model-folder.ts';

export interface OptimizeSteps {
  /** Fuse attention (UNet and VAE: the text encoders' attention is masked and runs once per image). */
  fuse?: boolean;
  /** What `fuse` fuses (fuse-names.ts; default attention alone), already limited to the provider's kernels. */
  fusions?: readonly FusionName[];
  /** Convert float32 weights and computation to float16. */
  fp16?: boolean;
}

/** The components the install-time rewrites apply to (the safety checker runs once per image: left as it is). */
export type OnnxComponent = Exclude<keyof ModelComponents, 'tokenizer' | 'tokenizer2' | 'safetyChecker'>;
export const ONNX_COMPONENTS: readonly OnnxComponent[] = ['textEncoder', 'textEncoder2', 'unet', 'vaeDecoder', 'vaeEncoder'];

/** The steps that apply to one component of a model whose VAE config says `force_upcast` or not. */
export function stepsFor(component: OnnxComponent, vaeForceUpcast: boolean, steps: OptimizeSteps): OptimizeSteps {
  const isVae = component === 'vaeDecoder' || component === 'vaeEncoder';
  return {
    fuse: !!steps.fuse && (component === 'unet' || isVae) && (steps.fusions ?? DEFAULT_FUSIONS).length > 0,
    ...(steps.fusions ? { fusions: steps.fusions } : {}),
    // SDXL's VAE overflows float16 (its activations pass 65504: black or NaN images), which its
    // config's force_upcast says, as diffusers reads it; "sdxl-vae-fp16-fix" says false. A VAE with
    // force_upcast stays float32 unless the model ships a float16 one already.
    fp16: !!steps.fp16 && !(isVae && vaeForceUpcast),
  };
}

export interface StepReport {
  step: 'fuse' | 'fp16';
  /** What the step did now; undefined when its cached result was used. */
  did?: string;
  /** The file it leaves (its input when it had nothing to do). */
  path: string;
}

async function fuseStep(path: string, fusions: readonly FusionName[]): Promise<StepReport> {
  let did: string | undefined;
  const r = await derivedModelFile(path, fusionTag(fusions), async (m) => {
    // Attention needs no tensor values beyond its scale; the other fusions read norm weights and biases.
    if (fusions.some((f) => f !== 'attention')) await readSmallTensors(m, path);
    const external = new ExternalDataReader(path, dirname(path));
    try {
      const report = await applyFusions(m, fusions, tensorReader((t) => external.read(t)));
      did = describeFusions(report);
      return Object.values(report.fused).some((n) => n > 0);
    } finally {
      await external.close();
    }
  });
  return { step: 'fuse', path: r.path, ...(r.fresh ? { did } : {}) };
}

async function fp16Step(path: string): Promise<StepReport> {
  const r = await float16File(path);
  const did = r.converted
    ? `float16 (${r.converted.constants} weights and constants converted, ${r.converted.float32Nodes} nodes kept in float32)`
    : r.fresh
      ? 'already float16'
      : undefined;
  return { step: 'fp16', path: r.path, ...(did ? { did } : {}) };
}

/** Runs the asked steps on one ONNX file; returns what each did and the file to load. */
export async function optimizedFile(path: string, steps: OptimizeSteps): Promise<{ path: string; reports: StepReport[] }> {
  const reports: StepReport[] = [];
  let file = path;
  if (steps.fuse) reports.push(await fuseStep(file, steps.fusions ?? DEFAULT_FUSIONS));
  file = reports.at(-1)?.path ?? file;
  if (steps.fp16 && (await float16Refused(path))) reports.push({ step: 'fp16', path: file, did: 'float16 refused earlier (see model.fp16.refused): kept as it is' });
  else if (steps.fp16) reports.push(await fp16Step(file));
  return { path: reports.at(-1)?.path ?? file, reports };
}

export interface ComponentReport {
  component: OnnxComponent;
  original: string;
  path: string;
  reports: StepReport[];
}

/** Optimises every component of a model (cached: a second call only checks dates). */
export async function optimizeModel(info: ModelInfo, steps: OptimizeSteps): Promise<ComponentReport[]> {
  const out: ComponentReport[] = [];
  for (const component of ONNX_COMPONENTS) {
    const original = info.components[component];
    const own = stepsFor(component, info.vae.forceUpcast, steps);
    if (!original || (!own.fuse && !own.fp16)) continue;
    out.push({ component, original, ...(await optimizedFile(original, own)) });
  }
  return out;
}
