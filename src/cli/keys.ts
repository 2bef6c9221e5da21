/** `darkroom keys create|list|revoke --user NAME`: API keys, straight on the database (the server may be running). */
import type { Command } from 'commander';
import type { Config } from '../config/config.ts';
import type { Accounts } from '../core/accounts.ts';
import { configFromFlags, DATABASE_SETTINGS, withConfigFlags } from './config-flags.ts';
import { FlagError } from './flag-error.ts';

/** The accounts over the configured database, closed after `work` (the database code loads only when a command runs). */
async function withAccounts<T>(config: Config, work: (accounts: Accounts) => Promise<T>): Promise<T> {
  const { openDatabase } = await import('../db/database.ts');
  const { Accounts } = await import('../core/accounts.ts');
  const db = await openDatabase(config.databaseUrl);
  try {
    return await work(new Accounts(db, { initialCredits: config.initialCredits }));
  } finally {
    await db.close();
  }
}

/** The key's callback, checked before anything is written (a refused URL must not leave a new user behind). */
async function webhookOf(opts: Record<string, unknown>): Promise<{ url: string; apiKey?: string } | undefined> {
  const url = opts['webhookUrl'] as string | undefined;
  const apiKey = opts['webhookKey'] as string | undefined;
  if (url === undefined) {
    if (apiKey !== undefined) throw new FlagError('--webhook-key', 'needs --webhook-url');
    return undefined;
  }
  const { validateWebhook } = await import('../core/webhook-target.ts');
  const { ValidationError } = await import('../core/errors.ts');
  try {
    return validateWebhook(url, apiKey);
  } catch (err) {
    if (err instanceof ValidationError) throw new FlagError(err.field === 'webhookApiKey' ? '--webhook-key' : '--webhook-url', err.message);
    throw err;
  }
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('manage API keys');

  withConfigFlags(
    keys
      .command('create')
      .description('make an API key for a user (the user is created when new); prints the key once')
      .requiredOption('--user <name>', 'user name')
      .option('--name <label>', 'a label for the key', 'Secret key')
      .option('--admin', 'make the user an admin (only when this command creates it)')
      .option('--webhook-url <url>', 'POST a callback here when a Leonardo-dialect generation made with this key completes')
      .option('--webhook-key <secret>', 'sent with each callback as "Authorization: Bearer <secret>" (with --webhook-url)'),
    [...DATABASE_SETTINGS, 'DARKROOM_INITIAL_CREDITS'],
  ).action(async (opts: Record<string, unknown>) => {
    const webhook = await webhookOf(opts);
    const config = configFromFlags(opts);
    const { NotFoundError } = await import('../core/errors.ts');
    const name = opts['user'] as string;
    await withAccounts(config, async (accounts) => {
      const existing = await accounts.userByName(name).catch((err: unknown) => {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      });
      if (existing && opts['admin']) throw new FlagError('--admin', `user "${name}" exists already; --admin applies only to a user this command creates`);
      const user = existing ?? (await accounts.createUser(name, opts['admin'] ? 'admin' : 'user'));
      if (!existing) process.stderr.write(`created user "${name}" with ${config.initialCredits} credits\n`);
      const { secret } = await accounts.createKey(user.id, opts['name'] as string, webhook);
      process.stderr.write(`API key for "${name}" (shown only this once; only its hash is stored):\n`);
      process.stdout.write(`${secret}\n`);
    });
  });

  withConfigFlags(keys.command('list').description("list a user's active keys").requiredOption('--user <name>', 'user name'), DATABASE_SETTINGS).action(
    async (opts: Record<string, unknown>) => {
      await withAccounts(configFromFlags(opts), async (accounts) => {
        const user = await accounts.userByName(opts['user'] as string);
        for (const k of await accounts.listKeys(user.id)) {
          process.stdout.write(`${k.id}  ${k.short_string}  ${k.name}  created ${k.created_at}  last used ${k.last_used_at ?? 'never'}\n`);
        }
      });
    },
  );

  withConfigFlags(
    keys.command('revoke').description('revoke a key').requiredOption('--user <name>', 'user name').requiredOption('--id <key id>', 'the key id (from keys list)'),
    DATABASE_SETTINGS,
  ).action(async (opts: Record<string, unknown>) => {
    await withAccounts(configFromFlags(opts), async (accounts) => {
      const user = await accounts.userByName(opts['user'] as string);
      await accounts.revokeKey(user.id, opts['id'] as string);
      process.stdout.write(`revoked ${opts['id']}\n`);
    });
  });
}
