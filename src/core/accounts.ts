/**
 * Accounts and API keys. A key is `dr-` + 64 hex characters (32 random bytes); only its SHA-256 is
 * stored, and the secret is returned once, when it is made. Lookups hash the presented key and find
 * it by that hash (an index lookup; nothing secret is compared in application code).
 */
import * as crypto from 'node:crypto';
import type { Database } from '../db/database.ts';
import * as keys from '../db/api-keys.ts';
import * as ledger from '../db/ledger.ts';
import * as users from '../db/users.ts';
import type { ApiKey, Role, User } from '../db/schema.ts';
import { validateWebhook } from './webhook-target.ts';
import { ConflictError, NotFoundError, TooManyTokensError, UnauthorizedError, ValidationError } from './errors.ts';

export const API_KEY_PREFIX = 'dr-';
/** Stablecog's MAX_API_TOKENS_PER_USER. */
export const MAX_ACTIVE_KEYS = 10;
export const MAX_KEY_NAME_LENGTH = 50;
export const DEFAULT_KEY_NAME = 'Secret key';
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;

export interface Auth {
  user: User;
  key: ApiKey;
}

export interface AccountOptions {
  /** Credits a new account starts with. */
  initialCredits: number;
}

/**
 * SHA-256 of a key, hex. Every authenticated request hashes its key: `crypto.hash` (Node 20.12 and
 * later) does it in one call for about half the cost of a Hash object; older Node 20 releases lack it.
 */
const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function' ? (text) => crypto.hash('sha256', text, 'hex') : (text) => crypto.createHash('sha256').update(text).digest('hex');

export function hashApiKey(secret: string): string {
  return sha256Hex(secret);
}

export function shortString(secret: string): string {
  return `${secret.slice(0, 3)}...${secret.slice(-4)}`;
}

export class Accounts {
  constructor(
    private readonly db: Database,
    private readonly options: AccountOptions,
  ) {}

  async createUser(name: string, role: Role = 'user'): Promise<User> {
    if (!USER_NAME.test(name)) {
      throw new ValidationError('name', `user name must be 1-64 letters, digits or _ . @ - (starting with a letter or digit), got ${JSON.stringify(name)}`);
    }
    return this.db.transaction(async (tx) => {
      if (await users.findUserByName(tx, name)) throw new ConflictError(`user "${name}" already exists`);
      const user = await users.insertUser(tx, { id: crypto.randomUUID(), name, role });
      if (this.options.initialCredits > 0) {
        await ledger.credit(tx, user.id, this.options.initialCredits, 'initial', { note: 'starting credits' });
      }
      return (await users.findUserById(tx, user.id))!;
    });
  }

  async userByName(name: string): Promise<User> {
    const user = await users.findUserByName(this.db.kysely, name);
    if (!user) throw new NotFoundError('user', name);
    return user;
  }

  async userById(id: string): Promise<User> {
    const user = await users.findUserById(this.db.kysely, id);
    if (!user) throw new NotFoundError('user', id);
    return user;
  }

  listUsers(): Promise<User[]> {
    return users.listUsers(this.db.kysely);
  }

  /**
   * First start: when no admin exists, creates one (named `name`) and one API key for it, and
   * returns the key's secret (to print once). Returns null when an admin already exists.
   */
  async ensureAdmin(name = 'admin'): Promise<{ user: User; secret: string } | null> {
    if ((await users.countUsers(this.db.kysely, 'admin')) > 0) return null;
    let user: User;
    try {
      user = await this.createUser(name, 'admin');
    } catch (err) {
      // Another API process starting at the same moment made it first (the name is unique).
      if ((await users.countUsers(this.db.kysely, 'admin')) > 0) return null;
      throw err;
    }
    const { secret } = await this.createKey(user.id, 'first-start admin key');
    return { user, secret };
  }

  /**
   * Makes a key; the 11th active key of a user is refused with TooManyTokensError. `webhook`: a
   * callback URL (and the secret its receiver expects) for generations made with this key.
   */
  async createKey(userId: string, name: string = DEFAULT_KEY_NAME, webhook?: { url: string; apiKey?: string }): Promise<{ key: ApiKey; secret: string }> {
    const hook = webhook ? validateWebhook(webhook.url, webhook.apiKey) : undefined;
    const keyName = ([...(name.trim() || DEFAULT_KEY_NAME)].slice(0, MAX_KEY_NAME_LENGTH)).join('');
    const secret = API_KEY_PREFIX + crypto.randomBytes(32).toString('hex');
    return this.db.transaction(async (tx) => {
      if (!(await users.lockUser(tx, userId))) throw new NotFoundError('user', userId);
      if ((await keys.countActiveKeys(tx, userId)) >= MAX_ACTIVE_KEYS) throw new TooManyTokensError(MAX_ACTIVE_KEYS);
      const key = await keys.insertApiKey(tx, {
        id: crypto.randomUUID(),
        user_id: userId,
        name: keyName,
        hash: hashApiKey(secret),
        short_string: shortString(secret),
        ...(hook ? { webhook_url: hook.url, webhook_api_key: hook.apiKey ?? null } : {}),
      });
      return { key, secret };
    });
  }

  listKeys(userId: string, which: 'active' | 'all' = 'active'): Promise<ApiKey[]> {
    return keys.listApiKeys(this.db.kysely, userId, which);
  }

  async revokeKey(userId: string, keyId: string): Promise<void> {
    if (!(await keys.revokeApiKey(this.db.kysely, userId, keyId))) throw new NotFoundError('token', keyId);
  }

  /** The user and key behind a presented secret, or UnauthorizedError. */
  async authenticate(secret: string | undefined): Promise<Auth> {
    if (!secret || secret.length > 200) throw new UnauthorizedError();
    const found = await keys.findActiveKeyByHash(this.db.kysely, hashApiKey(secret));
    if (!found) throw new UnauthorizedError('the API key is not valid (unknown or revoked)');
    // last_used_at moves at most once a minute per key, so reads do not each cost a write.
    const last = found.key.last_used_at ? Date.parse(found.key.last_used_at) : 0;
    if (Date.now() - last > 60_000) {
      keys.touchApiKey(this.db.kysely, found.key.id).catch(() => undefined);
    }
    return found;
  }
}
