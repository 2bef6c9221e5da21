/** `DARKROOM_DEVICE_LOOP`, apart from device-loop.ts so that configuration can read it without loading onnxruntime-node. */
import type { ExecutionProvider } from '../runtime/execution-provider.ts';

/** on: the loop graph takes every run it can; off: the JS loop; auto: on with CUDA, off elsewhere. */
export type DeviceLoopSetting = 'off' | 'on' | 'auto';
export const DEVICE_LOOP_SETTINGS: readonly DeviceLoopSetting[] = ['off', 'on', 'auto'];

/**
 * On CPU the JS loop is as fast (nothing crosses a bus) and its step-by-step arithmetic is the reference.
 * WebGPU already keeps the UNet's outputs on the device between runs (runKeeping), and whether its
 * provider runs a Loop without reading back every iteration is not known: it stays on the JS loop
 * until a GPU run shows the graph pays there.
 */
export function deviceLoopOn(setting: DeviceLoopSetting, provider: ExecutionProvider): boolean {
  return setting === 'on' || (setting === 'auto' && provider === 'cuda');
}
