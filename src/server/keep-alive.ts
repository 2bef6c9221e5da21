/**
 * Idle keep-alive connections: the server must never be the first to close one. A client that
 * sends its next request on a connection just as the server closes it sees a reset (ECONNRESET,
 * "fetch failed"), and a retry is not its to make for a POST. Clients keep an idle connection for
 * the server's advertised `Keep-Alive: timeout` less a margin (undici, Node's fetch: 1-2 s less) or
 * for their own idle limit (load balancers: AWS ALB 60 s, nginx upstream 60 s), so the server keeps
 * idle connections longer than those: 65 s rather than Node's 5 s, which a busy event loop (one
 * long synchronous step, a GC pause under load) overran before the client's own timer could act.
 * `headersTimeout` stays above it, as Node wants.
 */
import type { Server } from 'node:http';

export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** Applies to an HTTP/1 server (what @hono/node-server's serve makes unless told otherwise). */
export function keepIdleConnectionsLonger(server: object): void {
  if (!('keepAliveTimeout' in server)) return;
  const http = server as Server;
  http.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  http.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000;
}
