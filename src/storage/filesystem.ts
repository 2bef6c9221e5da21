/** ObjectStore on the local disk: key `outputs/x.png` is the file `<root>/outputs/x.png`. */
import { randomBytes } from 'node:crypto';
import { mkdir, opendir, readFile, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { assertSafeKey, assertSafePrefix, contentTypeOf, type ListedObject, type ObjectStore, type StoredObject } from './object-store.ts';

export class FilesystemStore implements ObjectStore {
  constructor(readonly root: string) {}

  private path(key: string): string {
    assertSafeKey(key);
    return join(this.root, ...key.split('/'));
  }

  /** The content type comes back from the key's extension (nothing is stored beside the file). */
  async put(key: string, bytes: Uint8Array, _contentType?: string): Promise<void> {
    const path = this.path(key);
    // Write beside and rename, so a reader never sees half a file. A crash between the two leaves
    // the `.tmp-` file, which `list` shows like any other file (the orphan sweep removes it).
    const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
    for (let attempt = 1; ; attempt++) {
      await mkdir(dirname(path), { recursive: true });
      try {
        await writeFile(tmp, bytes);
        break;
      } catch (err) {
        // A delete emptied and removed the folder between mkdir and write: make it again.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw err;
      }
    }
    try {
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async get(key: string): Promise<StoredObject | undefined> {
    try {
      return { bytes: await readFile(this.path(key)), contentType: contentTypeOf(key) };
    } catch (err) {
      // A folder (the start of other keys) is not an object, as on S3.
      if (['ENOENT', 'EISDIR', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return undefined;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    const path = this.path(key);
    try {
      return (await stat(path)).isFile();
    } catch {
      return false;
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.path(key);
    try {
      await unlink(path);
    } catch (err) {
      // Nothing there, or a folder (not an object: the keys under it stay, as on S3).
      if (['ENOENT', 'EISDIR', 'EPERM', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return;
      throw err;
    }
    // Folders exist only for the keys in them: the ones this delete left empty go too (S3 has none).
    for (let dir = dirname(path); dir.startsWith(this.root + sep) && dir !== this.root; dir = dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        break; // not empty (or already gone): the folders above are not empty either
      }
    }
  }

  async *list(prefix: string): AsyncIterable<ListedObject> {
    assertSafePrefix(prefix);
    // Walk the deepest folder the prefix names whole, and match the rest of it by name.
    const folder = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    yield* this.walk(folder, prefix);
  }

  private async *walk(folder: string, prefix: string): AsyncIterable<ListedObject> {
    let dir;
    try {
      dir = await opendir(join(this.root, ...folder.split('/').filter(Boolean)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw err;
    }
    for await (const entry of dir) {
      const key = folder + entry.name;
      if (entry.isDirectory()) {
        // Only folders that can hold a matching key.
        if ((key + '/').startsWith(prefix) || prefix.startsWith(key + '/')) yield* this.walk(key + '/', prefix);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        try {
          const s = await stat(join(this.root, ...key.split('/')));
          yield { key, size: s.size, lastModified: s.mtime };
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // deleted meanwhile
        }
      }
    }
  }

  async check(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    const s = await stat(this.root);
    if (!s.isDirectory()) throw new Error(`${this.root} is not a folder`);
  }
}
