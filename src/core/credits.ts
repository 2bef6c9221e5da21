/** Credit balances and grants (debits and refunds happen inside the generation/upscale transactions). */
import type { Database } from '../db/database.ts';
import * as ledger from '../db/ledger.ts';
import type { LedgerEntry } from '../db/schema.ts';
import { ValidationError } from './errors.ts';

export class Credits {
  constructor(private readonly db: Database) {}

  balance(userId: string): Promise<number> {
    return ledger.balance(this.db.kysely, userId);
  }

  /** Adds credits to an account (admin CLI). Returns the new balance. */
  grant(userId: string, amount: number, note?: string): Promise<number> {
    if (!Number.isInteger(amount) || amount <= 0 || amount > 1e12) {
      throw new ValidationError('amount', `amount must be a positive integer, got ${amount}`);
    }
    return this.db.transaction((tx) => ledger.credit(tx, userId, amount, 'grant', { note: note ?? null }));
  }

  entries(userId: string): Promise<LedgerEntry[]> {
    return ledger.ledgerEntries(this.db.kysely, userId);
  }

  /** The cached balance and the ledger's sum, which must be equal. */
  async audit(userId: string): Promise<{ balance: number; ledgerSum: number }> {
    return { balance: await this.balance(userId), ledgerSum: await ledger.ledgerSum(this.db.kysely, userId) };
  }
}
