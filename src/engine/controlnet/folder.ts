/** A model folder's ControlNets: controlnet/<name>/model.onnx, each an ONNX ControlNetModel export. */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export const CONTROLNET_DIR = 'controlnet';

export function controlNetFile(modelDir: string, name: string): string {
  return join(modelDir, CONTROLNET_DIR, name, 'model.onnx');
}

/** Names of the ControlNets in `modelDir`, sorted; none when it has no controlnet/ folder. */
export async function listControlNets(modelDir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(join(modelDir, CONTROLNET_DIR), { withFileTypes: true });
  } catch {
    return [];
  }
  const names: string[] = [];
  for (const e of entries) {
    if (e.isDirectory() && (await stat(controlNetFile(modelDir, e.name)).catch(() => undefined))?.isFile()) names.push(e.name);
  }
  return names.sort();
}
