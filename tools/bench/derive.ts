/**
 * Model folders derived from a benchmark model without copying its weights: components replaced
 * by other .onnx files (fixed-shape rewrites, fused attention, ONNX Runtime's optimised graphs),
 * external weight files hard-linked, everything else symlinked, so the engine loads the variant as
 * an ordinary model folder.
 */
import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, readdir, rename, rm, symlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { readModel, saveModel } from '../../src/engine/onnx/builder.ts';
import type { ModelProto, ValueInfoProto } from '../../src/engine/onnx/proto.ts';
import { fuseAttention, type FuseResult } from '../../src/engine/models/fuse-attention.ts';

/**
 * A second name for `src` at `dst`: a hard link (no copy), or a copy across file systems. Not a
 * symlink: ONNX Runtime 1.29 resolves external data paths and refuses one that leads out of the
 * model's folder.
 */
async function linkOrCopy(src: string, dst: string): Promise<void> {
  try {
    await link(src, dst);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw err;
    await copyFile(src, dst);
  }
}

/**
 * Writes a copy of the .onnx at `src`, changed by `edit`, to `dst`. The weights stay where they
 * are: when `src` has external data, it gets a second name (hard link) next to `dst`.
 */
export async function rewriteModel(src: string, dst: string, edit: (model: ModelProto) => void): Promise<void> {
  const model = await readModel(src, { loadExternalData: false });
  edit(model);
  await mkdir(dirname(dst), { recursive: true });
  const data = `${src}_data`;
  if (existsSync(data)) {
    const target = join(dirname(dst), basename(data));
    if (resolve(target) !== resolve(data) && !existsSync(target)) await linkOrCopy(resolve(data), target);
  }
  await saveModel(dst, model);
}

/**
 * A copy of the .onnx at `src` whose symbolic input/output dimensions named in `dims` are fixed
 * numbers (what ONNX Runtime's freeDimensionOverrides does, which onnxruntime-node 1.29 does not
 * pass on).
 */
export function fixShapes(src: string, dst: string, dims: Record<string, number>): Promise<void> {
  return rewriteModel(src, dst, (model) => {
    const fix = (values: ValueInfoProto[] | undefined) => {
      for (const v of values ?? []) {
        for (const d of v.type?.tensor_type?.shape?.dim ?? []) {
          if (d.dim_param && dims[d.dim_param] !== undefined) {
            d.dim_value = dims[d.dim_param];
            delete d.dim_param;
          }
        }
      }
    };
    fix(model.graph!.input);
    fix(model.graph!.output);
  });
}

/**
 * Makes (once) the folder `dst`: a view of model folder `src` where each component named in
 * `replace` (e.g. 'unet') gets its model.onnx from `replace[component](componentDir)`; the
 * component's other files and every other entry are symlinks to `src`. Built in a temporary
 * folder and renamed into place.
 */
export async function deriveModelFolder(
  src: string,
  dst: string,
  replace: Record<string, (componentDir: string) => Promise<void>>,
): Promise<string> {
  if (existsSync(join(dst, 'darkroom.json'))) return dst;
  const tmp = `${dst}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(tmp, { recursive: true });
    for (const entry of await readdir(src)) {
      const from = resolve(src, entry);
      if (!(entry in replace)) {
        await symlink(from, join(tmp, entry));
        continue;
      }
      const dir = join(tmp, entry);
      await mkdir(dir);
      for (const file of await readdir(from)) {
        if (file === 'model.onnx' || file === 'model.onnx_data') continue;
        await symlink(join(from, file), join(dir, file));
      }
      await replace[entry]!(dir);
    }
    await rm(dst, { recursive: true, force: true });
    await rename(tmp, dst);
    return dst;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** A derived folder whose components have the fixed dimensions given per component. */
export function fixedShapeFolder(src: string, dst: string, dimsByComponent: Record<string, Record<string, number>>): Promise<string> {
  const replace: Record<string, (dir: string) => Promise<void>> = {};
  for (const [component, dims] of Object.entries(dimsByComponent)) {
    replace[component] = (dir) => fixShapes(join(src, component, 'model.onnx'), join(dir, 'model.onnx'), dims);
  }
  return deriveModelFolder(src, dst, replace);
}

/** A derived folder whose UNet and VAE decoder have their attention fused (fuse.ts). */
export async function fusedFolder(src: string, dst: string): Promise<{ dir: string; fused: Record<string, FuseResult> }> {
  const fused: Record<string, FuseResult> = {};
  const replace: Record<string, (dir: string) => Promise<void>> = {};
  for (const component of ['unet', 'vae_decoder']) {
    replace[component] = (dir) => rewriteModel(join(src, component, 'model.onnx'), join(dir, 'model.onnx'), (m) => void (fused[component] = fuseAttention(m)));
  }
  return { dir: await deriveModelFolder(src, dst, replace), fused };
}
