/**
 * Who may see a stored image. Outputs are served by URL; a private output (the default) is shown
 * to its owner's API key, or to anyone holding a URL Darkroom signed (the URLs in API answers carry
 * `?sig=`, an HMAC of the object key under a server secret kept in the database, so a client can
 * fetch its images without headers, as Stablecog's clients do). Anyone else gets a 404.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Database } from '../db/database.ts';
import * as gens from '../db/generations.ts';
import * as ups from '../db/uploads.ts';
import { userPrefix } from './images.ts';

const SECRET_KEY = 'image_url_secret';

export class ImageAccess {
  private constructor(
    private readonly db: Database,
    private readonly secret: Buffer,
  ) {}

  /** Reads (or, on first start, makes) the signing secret shared by every API process. */
  static async open(db: Database): Promise<ImageAccess> {
    const value = await ups.setSettingOnce(db.kysely, SECRET_KEY, randomBytes(32).toString('hex'));
    return new ImageAccess(db, Buffer.from(value, 'hex'));
  }

  sign(key: string): string {
    return createHmac('sha256', this.secret).update(key).digest('hex').slice(0, 32);
  }

  verify(key: string, sig: string | undefined): boolean {
    if (!sig || sig.length !== 32) return false;
    const expected = Buffer.from(this.sign(key));
    const given = Buffer.from(sig);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** Path (under the server root) of an object, signed. */
  path(key: string): string {
    return `/images/${key}?sig=${this.sign(key)}`;
  }

  /** Whether `viewerId` (undefined: anonymous) may see `key`, given a signature or not. */
  async canView(key: string, viewerId: string | undefined, sig: string | undefined): Promise<boolean> {
    if (this.verify(key, sig)) return true;
    const [kind, ...rest] = key.split('/');
    if (kind === 'outputs' || kind === 'upscaled') {
      const output = await gens.findOutputByImageKey(this.db.kysely, key);
      if (output) return output.is_public === 1 || output.user_id === viewerId;
      const upscale = kind === 'upscaled' ? await ups.findUpscaleByImageKey(this.db.kysely, key) : undefined;
      return upscale !== undefined && upscale.user_id === viewerId;
    }
    if (kind === 'uploads') return viewerId !== undefined && rest[0] === userPrefix(viewerId);
    return false;
  }
}
