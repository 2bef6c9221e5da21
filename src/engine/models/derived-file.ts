/**
 * Rewritten twins of a model's ONNX files (circular padding for tiling, fused attention), written next
 * to the original as `model.<tag>.onnx` so that external weight files (`model.onnx_data`), which ONNX
 * Runtime resolves relative to the model file, are shared, not copied. A twin is made on first use and
 * reused while it is newer than the original.
 */
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { decodeModel, encodeModel, type ModelProto } from '../onnx/proto.ts';

async function mtime(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return undefined;
  }
}

export function derivedPath(modelPath: string, tag: string, ext = '.onnx'): string {
  return join(dirname(modelPath), basename(modelPath).replace(/\.onnx$/, '') + `.${tag}${ext}`);
}

/**
 * The path of the twin of `modelPath` that `rewrite` makes. `rewrite` changes the model in place or
 * returns a new one; when it returns false nothing needed changing: no twin is written (an empty
 * `model.<tag>.none` marker remembers that) and the original's path is returned. A rewrite that
 * writes weights of its own puts them next to `target` (the twin's path) before returning.
 */
export async function derivedModelFile(
  modelPath: string,
  tag: string,
  rewrite: (model: ModelProto, target: string) => ModelProto | boolean | Promise<ModelProto | boolean>,
): Promise<{ path: string; fresh: boolean }> {
  const out = derivedPath(modelPath, tag);
  const none = derivedPath(modelPath, tag, '.none');
  const [src, dst, unchanged] = await Promise.all([mtime(modelPath), mtime(out), mtime(none)]);
  if (src !== undefined && dst !== undefined && dst >= src) return { path: out, fresh: false };
  if (src !== undefined && unchanged !== undefined && unchanged >= src) return { path: modelPath, fresh: false };
  const model = decodeModel(await readFile(modelPath));
  const result = await rewrite(model, out);
  if (result === false) {
    await writeFile(none, '');
    return { path: modelPath, fresh: true };
  }
  const tmp = `${out}.${process.pid}.tmp`;
  await writeFile(tmp, encodeModel(result === true ? model : result));
  await rename(tmp, out); // atomic: a concurrent reader sees the old file or the whole new one
  return { path: out, fresh: true };
}
