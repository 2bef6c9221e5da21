/** `darkroom credits grant|show --user NAME`: the admin side of the credit ledger. */
import type { Command } from 'commander';
import { Accounts } from '../core/accounts.ts';
import { Credits } from '../core/credits.ts';
import { openDatabase } from '../db/database.ts';
import { configFromFlags, withConfigFlags } from './config-flags.ts';

const positiveInt = (v: string): number => {
  if (!/^\d+$/.test(v.trim()) || Number(v) <= 0) throw new Error(`--amount must be a positive integer, got ${v}`);
  return Number(v);
};

export function registerCredits(program: Command): void {
  const credits = program.command('credits').description('grant and inspect credits');

  withConfigFlags(
    credits
      .command('grant')
      .description('add credits to a user (one ledger row)')
      .requiredOption('--user <name>', 'user name')
      .requiredOption('--amount <n>', 'credits to add', positiveInt)
      .option('--note <text>', 'why'),
  ).action(async (opts: Record<string, unknown>) => {
    const config = configFromFlags(opts);
    const db = await openDatabase(config.databaseUrl);
    try {
      const user = await new Accounts(db, { initialCredits: 0 }).userByName(opts['user'] as string);
      const balance = await new Credits(db).grant(user.id, opts['amount'] as number, opts['note'] as string | undefined);
      process.stdout.write(`granted ${opts['amount']} credits to ${user.name}; balance ${balance}\n`);
    } finally {
      await db.close();
    }
  });

  withConfigFlags(credits.command('show').description("a user's balance and ledger").requiredOption('--user <name>', 'user name')).action(
    async (opts: Record<string, unknown>) => {
      const config = configFromFlags(opts);
      const db = await openDatabase(config.databaseUrl);
      try {
        const user = await new Accounts(db, { initialCredits: 0 }).userByName(opts['user'] as string);
        const c = new Credits(db);
        for (const e of await c.entries(user.id)) {
          process.stdout.write(`${e.created_at}  ${String(e.delta).padStart(6)}  ${e.reason}${e.generation_id ? `  generation ${e.generation_id}` : ''}${e.note ? `  (${e.note})` : ''}\n`);
        }
        process.stdout.write(`balance ${await c.balance(user.id)}\n`);
      } finally {
        await db.close();
      }
    },
  );
}
