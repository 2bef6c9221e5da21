/**
 * Finds models: every folder holding a model_index.json directly under the configured model
 * directories, addressed by manifest id (or folder name), or any folder given by path.
 */
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ModelFormatError, ModelNotFoundError } from '../errors.ts';
import { readModelFolder, type ModelInfo } from './model-folder.ts';

export interface ListedModel {
  info?: ModelInfo;
  /** A folder that looks like a model but failed to read: listed so the user sees why. */
  error?: string;
  dir: string;
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

export class ModelRegistry {
  constructor(private readonly roots: readonly string[]) {}

  async list(): Promise<ListedModel[]> {
    const found: ListedModel[] = [];
    const seen = new Set<string>();
    for (const root of this.roots) {
      if (!(await isDir(root))) continue;
      for (const name of (await readdir(root)).sort()) {
        const dir = resolve(root, name);
        if (!(await isFile(join(dir, 'model_index.json')))) continue;
        try {
          const info = await readModelFolder(dir);
          if (seen.has(info.manifest.id)) continue; // earlier roots win, so a user's copy shadows the shipped one
          seen.add(info.manifest.id);
          found.push({ info, dir });
        } catch (err) {
          found.push({ dir, error: err instanceof ModelFormatError ? err.message : String(err) });
        }
      }
    }
    return found;
  }

  /** By manifest id, folder name, or a path to a model folder. */
  async resolve(idOrPath: string): Promise<ModelInfo> {
    if (await isFile(join(idOrPath, 'model_index.json'))) return readModelFolder(idOrPath);
    const models = await this.list();
    const hit = models.find((m) => m.info && (m.info.manifest.id === idOrPath || m.dir.endsWith(`/${idOrPath}`)));
    if (hit?.info) return hit.info;
    const broken = models.find((m) => m.error && m.dir.endsWith(`/${idOrPath}`));
    if (broken?.error) throw new ModelFormatError(broken.error, broken.dir);
    throw new ModelNotFoundError(
      idOrPath,
      models.flatMap((m) => (m.info ? [m.info.manifest.id] : [])),
    );
  }
}
