/** Credits, API keys and usage of the caller's account. */
import { createRoute } from '@hono/zod-openapi';
import { uuidV5 } from '../../core/uuid.ts';
import type { ApiServices } from '../env.ts';
import type { Mount } from '../route.ts';
import { errorResponses, secured } from './openapi.ts';
import {
  CreditsResponse,
  OperationsQuery,
  OperationsResponse,
  StatusOk,
  TokenCreateInput,
  TokenCreateResponse,
  TokenDeleteInput,
  TokensQuery,
  TokensResponse,
} from './schemas.ts';

const CREDIT_TYPE = { id: uuidV5('credit-type:darkroom'), name: 'Darkroom credits', description: 'Credits granted by the server admin.' };
const NEVER = '2100-01-01T00:00:00Z';

/**
 * Per user, the last `/v1/credits` answer made, kept while the balance is the same: making it (the
 * credit row's id is a v5 UUID of the user id, a SHA-1, then JSON.stringify) was a tenth of the
 * route's CPU.
 */
const creditAnswers = new Map<string, { balance: number; json: string }>();
const MAX_CREDIT_ANSWERS = 10_000;

function creditsAnswer(userId: string, balance: number): string {
  let kept = creditAnswers.get(userId);
  if (kept?.balance !== balance) {
    const json = JSON.stringify({
      total_remaining_credits: balance,
      credits: [{ id: uuidV5(`credits:${userId}`), remaining_amount: balance, expires_at: NEVER, type: { ...CREDIT_TYPE, amount: balance } }],
    });
    if (creditAnswers.size >= MAX_CREDIT_ANSWERS) creditAnswers.clear();
    creditAnswers.set(userId, (kept = { balance, json }));
  }
  return kept.json;
}

const json = <S>(description: string, schema: S) => ({ 200: { description, content: { 'application/json': { schema } } }, ...errorResponses });

export function registerAccount(mount: Mount, services: ApiServices): void {
  const { accounts, usage } = services;

  mount(
    createRoute({
      method: 'get',
      path: '/v1/credits',
      operationId: 'getCredits',
      tags: ['Account'],
      summary: 'Credit balance',
      ...secured,
      responses: json('The balance, as one credit row (Darkroom has one kind of credit).', CreditsResponse),
    }),
    async (c) => {
      // The balance came with the key, in the one query that authenticated it (db/api-keys.ts).
      const user = c.get('auth').user;
      return c.body(creditsAnswer(user.id, Number(user.credits)), 200, { 'Content-Type': 'application/json' });
    },
  );

  mount(
    createRoute({
      method: 'post',
      path: '/v1/user/tokens',
      operationId: 'createToken',
      tags: ['Account'],
      summary: 'Create an API key',
      description: 'At most 10 active keys per account; the 11th is refused with too_many_tokens. The secret is in this answer only.',
      ...secured,
      request: { body: { required: false, content: { 'application/json': { schema: TokenCreateInput } } } },
      responses: json('The new key, shown once.', TokenCreateResponse),
    }),
    async (c, { body }) => {
      const { key, secret } = await accounts.createKey(c.get('auth').user.id, body?.name);
      return c.json({ id: key.id, token: secret }, 200);
    },
  );

  mount(
    createRoute({
      method: 'get',
      path: '/v1/user/tokens',
      operationId: 'listTokens',
      tags: ['Account'],
      summary: 'List active API keys',
      ...secured,
      request: { query: TokensQuery },
      responses: json('Active keys (never their secrets).', TokensResponse),
    }),
    async (c) => {
      const keys = await accounts.listKeys(c.get('auth').user.id);
      return c.json(
        {
          tokens: keys.map((k) => ({
            id: k.id,
            name: k.name,
            short_string: k.short_string,
            uses: Number(k.uses),
            credits_spent: Number(k.credits_spent),
            is_active: k.revoked_at === null,
            ...(k.last_used_at ? { last_used_at: k.last_used_at } : {}),
            created_at: k.created_at,
          })),
        },
        200,
      );
    },
  );

  mount(
    createRoute({
      method: 'delete',
      path: '/v1/user/tokens',
      operationId: 'deleteToken',
      tags: ['Account'],
      summary: 'Revoke an API key',
      ...secured,
      request: { body: { required: true, content: { 'application/json': { schema: TokenDeleteInput } } } },
      responses: { ...json('Revoked.', StatusOk), 404: { description: 'No active key of yours with that id (token_not_found).', content: errorResponses[400].content } },
    }),
    async (c, { body }) => {
      await accounts.revokeKey(c.get('auth').user.id, body.id);
      return c.json({ status: 'ok' as const }, 200);
    },
  );

  mount(
    createRoute({
      method: 'get',
      path: '/v1/user/operations',
      operationId: 'listOperations',
      tags: ['Account'],
      summary: 'Usage: generations and upscales with their cost',
      ...secured,
      request: { query: OperationsQuery },
      responses: json('Newest first; pass `next` as `cursor` for the following page.', OperationsResponse),
    }),
    async (c, { query }) => {
      const { rows, next } = await usage.operations(c.get('auth').user.id, query.per_page ?? 50, query.cursor);
      return c.json(
        {
          operations: rows.map((r) => ({
            id: r.id,
            operation_type: r.type,
            status: r.status,
            created_at: r.created_at,
            ...(r.started_at ? { started_at: r.started_at } : {}),
            ...(r.completed_at ? { completed_at: r.completed_at } : {}),
            num_outputs: r.num_outputs,
            cost: r.cost - r.refunded,
            source: r.source,
            dialect: r.dialect,
            prompt: r.prompt,
          })),
          ...(next ? { next } : {}),
        },
        200,
      );
    },
  );
}
