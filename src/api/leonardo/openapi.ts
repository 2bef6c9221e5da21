/** Pieces shared by the Leonardo route definitions. */
import { LeonardoError } from './schemas.ts';

export const secured: { security: { bearer: string[] }[] } = { security: [{ bearer: [] }] };

const json = { 'application/json': { schema: LeonardoError } } as const;

export const errorResponses = {
  400: { description: 'Bad input (the message starts with the field), or too few credits. Nothing is charged.', content: json },
  401: { description: 'Missing or unknown API key.', content: json },
  429: { description: 'Rate limit (see Retry-After) or too many generations waiting.', content: json },
  500: { description: 'Unexpected server error.', content: json },
} as const;
