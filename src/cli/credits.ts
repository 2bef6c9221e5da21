/** `darkroom credits grant|show --user NAME`: the admin side of the credit ledger. */
import type { Command } from 'commander';
import type { Config } from '../config/config.ts';
import type { Credits } from '../core/credits.ts';
import type { User } from '../db/schema.ts';
import { positiveInteger } from './arg-parsers.ts';
import { configFromFlags, DATABASE_SETTINGS, withConfigFlags } from './config-flags.ts';

/** The named user and the ledger over the configured database, closed after `work` (the database code loads only when a command runs). */
async function withLedger(config: Config, userName: string, work: (user: User, credits: Credits) => Promise<void>): Promise<void> {
  const { openDatabase } = await import('../db/database.ts');
  const { Accounts } = await import('../core/accounts.ts');
  const { Credits } = await import('../core/credits.ts');
  const db = await openDatabase(config.databaseUrl);
  try {
    const user = await new Accounts(db, { initialCredits: 0 }).userByName(userName);
    await work(user, new Credits(db));
  } finally {
    await db.close();
  }
}

export function registerCredits(program: Command): void {
  const credits = program.command('credits').description('grant and inspect credits');

  withConfigFlags(
    credits
      .command('grant')
      .description('add credits to a user (one ledger row)')
      .requiredOption('--user <name>', 'user name')
      .requiredOption('--amount <n>', 'credits to add', positiveInteger('--amount'))
      .option('--note <text>', 'why'),
    DATABASE_SETTINGS,
  ).action(async (opts: Record<string, unknown>) => {
    await withLedger(configFromFlags(opts), opts['user'] as string, async (user, ledger) => {
      const balance = await ledger.grant(user.id, opts['amount'] as number, opts['note'] as string | undefined);
      process.stdout.write(`granted ${opts['amount']} credits to ${user.name}; balance ${balance}\n`);
    });
  });

  withConfigFlags(credits.command('show').description("a user's balance and ledger").requiredOption('--user <name>', 'user name'), DATABASE_SETTINGS).action(
    async (opts: Record<string, unknown>) => {
      await withLedger(configFromFlags(opts), opts['user'] as string, async (user, ledger) => {
        for (const e of await ledger.entries(user.id)) {
          process.stdout.write(`${e.created_at}  ${String(e.delta).padStart(6)}  ${e.reason}${e.generation_id ? `  generation ${e.generation_id}` : ''}${e.note ? `  (${e.note})` : ''}\n`);
        }
        process.stdout.write(`balance ${await ledger.balance(user.id)}\n`);
      });
    },
  );
}
