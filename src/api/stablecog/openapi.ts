/** Pieces shared by the Stablecog route definitions. */
import { ErrorResponse } from './schemas.ts';

export const secured: { security: { bearer: string[] }[] } = { security: [{ bearer: [] }] };

const json = { 'application/json': { schema: ErrorResponse } } as const;

export const errorResponses = {
  400: { description: 'Bad input (the field is named), insufficient_credits, too_many_tokens or queue_limit_reached. Nothing is charged.', content: json },
  401: { description: 'Missing, unknown or revoked API key ("Unauthorized").', content: json },
  429: { description: 'Too many requests for this key; see Retry-After.', content: json },
  500: { description: 'The generation failed or timed out (TIMEOUT); its credits were refunded.', content: json },
} as const;

export const publicErrorResponses = {
  500: { description: 'Unexpected server error.', content: json },
} as const;
