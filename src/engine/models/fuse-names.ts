/**
 * The graph fusions the engine can apply when it builds a model's fused twin (fuse-set.ts), by the
 * names DARKROOM_FUSIONS takes. Kept apart from the rewrites so that the configuration can name them
 * without loading the ONNX code.
 */
import type { ExecutionProvider } from '../runtime/execution-provider.ts';

export const FUSIONS = ['attention', 'packed-qkv', 'skip-layer-norm', 'group-norm', 'bias-split-gelu', 'bias-add'] as const;
export type FusionName = (typeof FUSIONS)[number];

/**
 * Fusions into com.microsoft operators, or operator forms, that ONNX Runtime implements for CUDA only
 * (onnxruntime-node 1.29 on CPU: "Could not find an implementation for GroupNorm(1)"; "Packed QKV of
 * shape (B, L, N, 3, H) not implemented for CPU"; test/engine/fusions.test.ts).
 */
export const CUDA_ONLY: ReadonlySet<FusionName> = new Set(['packed-qkv', 'group-norm', 'bias-split-gelu', 'bias-add']);

/** What the engine fuses unless told otherwise: what it fused before fusions could be chosen. */
export const DEFAULT_FUSIONS: readonly FusionName[] = ['attention'];

/** The fusions of `names` that `provider` has kernels for, in the order they are applied. */
export function fusionsFor(provider: ExecutionProvider, names: readonly FusionName[]): FusionName[] {
  return FUSIONS.filter((f) => names.includes(f) && (provider === 'cuda' || !CUDA_ONLY.has(f)));
}
