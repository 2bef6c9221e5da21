/**
 * Who may see a stored image. Outputs are served by URL; a private output (the default) is shown
 * to its owner's API key, or to anyone holding a URL Darkroom signed that has not expired yet (the
 * URLs in API answers carry `?exp=<unix seconds>&sig=<HMAC of the object key and exp>` under a
 * server secret kept in the database, so a client can fetch its images without headers, as
 * Stablecog's clients do; each answer signs afresh, for `DARKROOM_SIGNED_URL_TTL` seconds). A public
 * output needs no signature. Anyone else, and an expired or altered URL: a 404.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Database } from '../db/database.ts';
import * as gens from '../db/generations.ts';
import * as ups from '../db/uploads.ts';
import { userPrefix } from './images.ts';

const SECRET_KEY = 'image_url_secret';
const SIG_LENGTH = 32;

export interface ImageAccessOptions {
  /** Seconds a signed URL stays valid (default 3600). */
  ttlSeconds?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/** What a request presents: the `exp` and `sig` query parameters, as given. */
export interface Signature {
  exp: string | undefined;
  sig: string | undefined;
}

export class ImageAccess {
  private readonly ttlSeconds: number;
  private readonly now: () => number;

  private constructor(
    private readonly db: Database,
    private readonly secret: Buffer,
    options: ImageAccessOptions,
  ) {
    this.ttlSeconds = options.ttlSeconds ?? 3600;
    this.now = options.now ?? Date.now;
  }

  /** Reads (or, on first start, makes) the signing secret shared by every API process. */
  static async open(db: Database, options: ImageAccessOptions = {}): Promise<ImageAccess> {
    const value = await ups.setSettingOnce(db.kysely, SECRET_KEY, randomBytes(32).toString('hex'));
    return new ImageAccess(db, Buffer.from(value, 'hex'), options);
  }

  /** The signature of `key` valid until `exp` (unix seconds). The newline keeps key and exp apart (keys have none). */
  sign(key: string, exp: number): string {
    return createHmac('sha256', this.secret).update(`${key}\n${exp}`).digest('hex').slice(0, SIG_LENGTH);
  }

  /** Whether `sig` signs `key` with `exp`, and `exp` is still ahead. */
  verify(key: string, { exp, sig }: Signature): boolean {
    if (!sig || sig.length !== SIG_LENGTH || !exp || !/^\d{1,12}$/.test(exp)) return false;
    const expires = Number(exp);
    if (expires * 1000 <= this.now()) return false;
    const expected = Buffer.from(this.sign(key, expires));
    const given = Buffer.from(sig);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** Path (under the server root) of an object, signed until now + the TTL. */
  path(key: string): string {
    const exp = Math.floor(this.now() / 1000) + this.ttlSeconds;
    return `/images/${key}?exp=${exp}&sig=${this.sign(key, exp)}`;
  }

  /** Whether `viewerId` (undefined: anonymous) may see `key`, given what the URL carries. */
  async canView(key: string, viewerId: string | undefined, signature: Signature): Promise<boolean> {
    if (this.verify(key, signature)) return true;
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
