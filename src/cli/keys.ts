/** `darkroom keys create|list|revoke --user NAME`: API keys, straight on the database (the server may be running). */
import type { Command } from 'commander';
import { Accounts } from '../core/accounts.ts';
import { NotFoundError } from '../core/errors.ts';
import { openDatabase } from '../db/database.ts';
import { configFromFlags, withConfigFlags } from './config-flags.ts';

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('manage API keys');

  withConfigFlags(
    keys
      .command('create')
      .description('make an API key for a user (the user is created when new); prints the key once')
      .requiredOption('--user <name>', 'user name')
      .option('--name <label>', 'a label for the key', 'Secret key')
      .option('--admin', 'when creating the user, make it an admin')
      .option('--webhook-url <url>', 'POST a callback here when a Leonardo-dialect generation made with this key completes')
      .option('--webhook-key <secret>', 'sent with each callback as "Authorization: Bearer <secret>"'),
  ).action(async (opts: Record<string, unknown>) => {
    const config = configFromFlags(opts);
    const db = await openDatabase(config.databaseUrl);
    try {
      const accounts = new Accounts(db, { initialCredits: config.initialCredits });
      const name = opts['user'] as string;
      let user;
      try {
        user = await accounts.userByName(name);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
        user = await accounts.createUser(name, opts['admin'] ? 'admin' : 'user');
        process.stderr.write(`created user "${name}" with ${config.initialCredits} credits\n`);
      }
      const webhookUrl = opts['webhookUrl'] as string | undefined;
      if (opts['webhookKey'] !== undefined && webhookUrl === undefined) throw new Error('--webhook-key needs --webhook-url');
      const webhook = webhookUrl !== undefined ? { url: webhookUrl, apiKey: opts['webhookKey'] as string | undefined } : undefined;
      const { secret } = await accounts.createKey(user.id, opts['name'] as string, webhook);
      process.stderr.write(`API key for "${name}" (shown only this once; only its hash is stored):\n`);
      process.stdout.write(`${secret}\n`);
    } finally {
      await db.close();
    }
  });

  withConfigFlags(keys.command('list').description("list a user's active keys").requiredOption('--user <name>', 'user name')).action(
    async (opts: Record<string, unknown>) => {
      const config = configFromFlags(opts);
      const db = await openDatabase(config.databaseUrl);
      try {
        const accounts = new Accounts(db, { initialCredits: 0 });
        const user = await accounts.userByName(opts['user'] as string);
        for (const k of await accounts.listKeys(user.id)) {
          process.stdout.write(`${k.id}  ${k.short_string}  ${k.name}  created ${k.created_at}  last used ${k.last_used_at ?? 'never'}\n`);
        }
      } finally {
        await db.close();
      }
    },
  );

  withConfigFlags(
    keys.command('revoke').description('revoke a key').requiredOption('--user <name>', 'user name').requiredOption('--id <key id>', 'the key id (from keys list)'),
  ).action(async (opts: Record<string, unknown>) => {
    const config = configFromFlags(opts);
    const db = await openDatabase(config.databaseUrl);
    try {
      const accounts = new Accounts(db, { initialCredits: 0 });
      const user = await accounts.userByName(opts['user'] as string);
      await accounts.revokeKey(user.id, opts['id'] as string);
      process.stdout.write(`revoked ${opts['id']}\n`);
    } finally {
      await db.close();
    }
  });
}
