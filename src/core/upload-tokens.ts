/**
 * Short-lived signed tokens that let a client upload one file without its API key (Leonardo's
 * presigned init-image flow: the key is used to ask for an upload slot; the upload itself carries
 * only the token). A token is `<base64url JSON claims>.<base64url HMAC-SHA256>` under a server secret
 * kept in the database (shared by every API process), and says who may upload what, until when.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Database } from '../db/database.ts';
import * as settings from '../db/uploads.ts';

const SECRET_KEY = 'upload_token_secret';

export interface UploadClaims {
  /** What the upload becomes (an init image id). */
  id: string;
  userId: string;
  /** File extension the client announced. */
  ext: string;
  /** Expiry, ms since the epoch. */
  exp: number;
}

export class UploadTokens {
  private constructor(private readonly secret: Buffer) {}

  static async open(db: Database): Promise<UploadTokens> {
    const value = await settings.setSettingOnce(db.kysely, SECRET_KEY, randomBytes(32).toString('hex'));
    return new UploadTokens(Buffer.from(value, 'hex'));
  }

  /** For tests and tools: tokens under a given secret. */
  static withSecret(secret: Buffer): UploadTokens {
    return new UploadTokens(secret);
  }

  issue(claims: Omit<UploadClaims, 'exp'>, ttlMs: number, now = Date.now()): { token: string; expiresAt: number } {
    const full: UploadClaims = { ...claims, exp: now + ttlMs };
    const body = Buffer.from(JSON.stringify(full)).toString('base64url');
    return { token: `${body}.${this.mac(body)}`, expiresAt: full.exp };
  }

  /** The claims of a valid, unexpired token; undefined otherwise. */
  verify(token: string, now = Date.now()): UploadClaims | undefined {
    const [body, mac, extra] = token.split('.');
    if (!body || !mac || extra !== undefined) return undefined;
    const expected = Buffer.from(this.mac(body));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    let claims: UploadClaims;
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as UploadClaims;
    } catch {
      return undefined;
    }
    if (typeof claims.exp !== 'number' || claims.exp < now) return undefined;
    return claims;
  }

  private mac(body: string): string {
    return createHmac('sha256', this.secret).update(`upload-token\0${body}`).digest('base64url');
  }
}
