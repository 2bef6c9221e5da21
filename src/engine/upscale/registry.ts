/**
 * The upscalers on offer: every folder with an upscaler.json under the model directories, and Lanczos
 * resampling, which is always there and labelled as resampling. A trained model, when installed, is
 * the default.
 */
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ModelNotFoundError } from '../errors.ts';
import type { SessionOptions } from '../runtime/session.ts';
import { OnnxUpscaler, readUpscalerManifest } from './onnx-upscaler.ts';
import { LanczosUpscaler } from './resample.ts';
import { UPSCALER_MANIFEST, type UpscalerInfo, type Upscaler } from './types.ts';

export interface ListedUpscaler {
  info: UpscalerInfo;
  /** Folder of an ONNX model; absent for built-in resampling. */
  dir?: string;
}

export class UpscalerRegistry {
  private readonly lanczos = new LanczosUpscaler(4);
  private readonly loaded = new Map<string, Promise<Upscaler>>();

  constructor(
    private readonly roots: readonly string[],
    private readonly sessionOptions: SessionOptions,
  ) {}

  /** Installed super-resolution models first (the first is the default), then resampling. */
  async list(): Promise<ListedUpscaler[]> {
    const found: ListedUpscaler[] = [];
    const seen = new Set<string>();
    for (const root of this.roots) {
      let names: string[];
      try {
        names = (await readdir(root)).sort();
      } catch {
        continue;
      }
      for (const name of names) {
        const dir = resolve(root, name);
        try {
          if (!(await stat(join(dir, UPSCALER_MANIFEST))).isFile()) continue;
        } catch {
          continue;
        }
        const info = await readUpscalerManifest(dir);
        if (seen.has(info.id)) continue;
        seen.add(info.id);
        found.push({ info, dir });
      }
    }
    return [...found, { info: this.lanczos.info }];
  }

  async get(id: string): Promise<Upscaler> {
    if (id === this.lanczos.info.id) return this.lanczos;
    let u = this.loaded.get(id);
    if (!u) {
      const listed = (await this.list()).find((l) => l.info.id === id);
      if (!listed?.dir) throw new ModelNotFoundError(id, (await this.list()).map((l) => l.info.id));
      u = OnnxUpscaler.load(listed.dir, this.sessionOptions);
      this.loaded.set(id, u);
      u.catch(() => this.loaded.delete(id));
    }
    return u;
  }

  async dispose(): Promise<void> {
    const all = [...this.loaded.values()];
    this.loaded.clear();
    await Promise.all(all.map(async (u) => (await u.catch(() => undefined))?.dispose()));
  }
}
