/** The execution providers by name, apart from session.ts so that configuration can list them without loading onnxruntime-node. */
export type ExecutionProvider = 'cpu' | 'cuda' | 'webgpu';
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'cuda', 'webgpu'];
