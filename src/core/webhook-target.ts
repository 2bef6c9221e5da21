/** The callback URL and secret an API key may carry (webhooks.ts delivers to them). */
import { ValidationError } from './errors.ts';
import { UrlGuard, UrlRefusedError } from './url-guard.ts';

const MAX_URL_LENGTH = 2048;
const MAX_SECRET_LENGTH = 512;

/** Checks a callback URL given at key creation (syntax, http(s), no credentials); addresses are checked at each delivery. */
export function validateWebhook(url: string, apiKey?: string): { url: string; apiKey?: string } {
  if (url.length > MAX_URL_LENGTH) throw new ValidationError('webhookUrl', `the callback URL is longer than ${MAX_URL_LENGTH} characters`);
  try {
    // Addresses are checked when delivering (DNS may change; the allow-list is the server's).
    new UrlGuard({ allow: ['0.0.0.0/0', '::/0'] }).checkUrl(url);
  } catch (err) {
    throw new ValidationError('webhookUrl', err instanceof UrlRefusedError ? err.message : 'not a URL');
  }
  if (apiKey !== undefined && (apiKey.length === 0 || apiKey.length > MAX_SECRET_LENGTH || /[\r\n]/.test(apiKey))) {
    throw new ValidationError('webhookApiKey', `the callback key must be 1-${MAX_SECRET_LENGTH} characters on one line`);
  }
  return { url, ...(apiKey !== undefined ? { apiKey } : {}) };
}
