/**
 * Install-time optimisation of a model's ONNX files: attention fused into ONNX Runtime's
 * MultiHeadAttention (fuse-attention.ts), whose CUDA kernels are flash / memory-efficient attention
 * instead of a [batch, heads, n, n] score tensor per layer. The result is cached next to each file
 * (`model.optimized.onnx`, derived-file.ts); a file with nothing to fuse is left as it is.
 */
import { derivedModelFile } from './derived-file.ts';
import { fuseAttention, type FuseResult } from './fuse-attention.ts';
import type { ModelInfo } from './model-folder.ts';

/** The components worth rewriting: the text encoders' attention is masked and runs once per image. */
export const OPTIMIZED_COMPONENTS = ['unet', 'vaeDecoder', 'vaeEncoder'] as const;

export interface OptimizedFile {
  /** The file to load: the optimised twin, or the original when nothing was fused. */
  path: string;
  /** What fusing did, when it ran now (undefined: the cached result was used). */
  fused?: FuseResult;
}

export async function optimizedFile(modelPath: string): Promise<OptimizedFile> {
  let fused: FuseResult | undefined;
  const { path, fresh } = await derivedModelFile(modelPath, 'optimized', (m) => {
    fused = fuseAttention(m);
    return fused.attention > 0;
  });
  return fresh ? { path, fused } : { path };
}

export interface ComponentReport extends OptimizedFile {
  component: (typeof OPTIMIZED_COMPONENTS)[number];
  original: string;
}

/** Optimises every component of a model that has one (cached: a second call only checks dates). */
export async function optimizeModel(info: ModelInfo): Promise<ComponentReport[]> {
  const reports: ComponentReport[] = [];
  for (const component of OPTIMIZED_COMPONENTS) {
    const original = info.components[component];
    if (original) reports.push({ component, original, ...(await optimizedFile(original)) });
  }
  return reports;
}
