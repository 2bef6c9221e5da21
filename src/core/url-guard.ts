/**
 * Outbound HTTP on behalf of a client (init images named by URL, webhook callbacks) without letting
 * the client reach what only the server can reach (SSRF). A URL is fetched only when:
 *  - it is http(s), with no user name or password in it;
 *  - every address its host resolves to is a public unicast address: loopback, private (RFC 1918,
 *    unique-local), link-local, CGNAT, multicast, unspecified, reserved and documentation ranges are
 *    refused, for IPv4 and IPv6 alike, IPv4-mapped/-compatible and NAT64 IPv6 forms included;
 *  - each redirect (GET only, at most 5) meets the same rules;
 *  - the answer arrives within the time limit and stays under the size limit.
 * The address check runs inside the socket's DNS lookup, so the address checked is the address
 * connected to (no window for DNS rebinding between a check and the connection).
 * An allow-list (DARKROOM_URL_ALLOWLIST: IPs, CIDR ranges or host names) lets chosen hosts through,
 * e.g. 127.0.0.1 for tests, or an internal image host.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

export type UrlRefusal = 'syntax' | 'scheme' | 'credentials' | 'blocked' | 'dns' | 'redirect' | 'too_large' | 'timeout' | 'network';

export class UrlRefusedError extends Error {
  constructor(
    readonly reason: UrlRefusal,
    message: string,
  ) {
    super(message);
    this.name = 'UrlRefusedError';
  }
}

export interface UrlGuardOptions {
  /** IPs, CIDR ranges (10.1.0.0/16, fd00::/8) or host names let through although they would be refused. */
  allow?: readonly string[];
  /** Name resolution (tests); default node:dns lookup with every address. */
  resolve?: (hostname: string) => Promise<LookupAddress[]>;
}

export interface GuardedRequest {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Bytes of answer body read at most; more is a 'too_large' refusal. */
  maxBytes: number;
  /** Whole exchange, redirects included. */
  timeoutMs: number;
  /** Redirects followed (GET only); 0 treats a redirect as the answer. Default 5 for GET, 0 for POST. */
  maxRedirects?: number;
  signal?: AbortSignal;
}

export interface GuardedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The URL that answered (after redirects). */
  url: string;
}

/** Ranges no client-named URL may reach. */
const BLOCKED = (() => {
  const b = new BlockList();
  const v4: [string, number][] = [
    ['0.0.0.0', 8], // "this" network, unspecified
    ['10.0.0.0', 8], // private
    ['100.64.0.0', 10], // carrier-grade NAT
    ['127.0.0.0', 8], // loopback
    ['169.254.0.0', 16], // link-local (cloud metadata services live here)
    ['172.16.0.0', 12], // private
    ['192.0.0.0', 24], // IETF protocol assignments
    ['192.0.2.0', 24], // documentation
    ['192.88.99.0', 24], // 6to4 relay anycast (deprecated)
    ['192.168.0.0', 16], // private
    ['198.18.0.0', 15], // benchmarking
    ['198.51.100.0', 24], // documentation
    ['203.0.113.0', 24], // documentation
    ['224.0.0.0', 4], // multicast
    ['240.0.0.0', 4], // reserved, broadcast
  ];
  for (const [a, p] of v4) b.addSubnet(a, p, 'ipv4');
  const v6: [string, number][] = [
    ['::', 128], // unspecified
    ['::1', 128], // loopback
    ['100::', 64], // discard-only
    ['2001:db8::', 32], // documentation
    ['2001::', 23], // IETF protocol assignments (Teredo, ORCHID, ...)
    ['fc00::', 7], // unique local
    ['fe80::', 10], // link-local
    ['fec0::', 10], // site-local (deprecated)
    ['ff00::', 8], // multicast
  ];
  for (const [a, p] of v6) b.addSubnet(a, p, 'ipv6');
  return b;
})();

function hex4(n: number): string {
  return n.toString(16);
}

/** The 16 bytes of an IPv6 address (any textual form, with or without a dotted IPv4 tail). */
function ipv6Bytes(address: string): number[] | undefined {
  let a = address.toLowerCase().replace(/%.*$/, '');
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (dotted) {
    const parts = dotted[1]!.split('.').map(Number);
    a = a.slice(0, -dotted[1]!.length) + `${hex4((parts[0]! << 8) | parts[1]!)}:${hex4((parts[2]! << 8) | parts[3]!)}`;
  }
  const halves = a.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 0) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail].map((g) => parseInt(g, 16));
  if (groups.length !== 8 || groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return undefined;
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

/**
 * The IPv4 address an IPv6 address carries, when it is one of the forms that reach an IPv4 host:
 * IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d, deprecated), NAT64 (64:ff9b::a.b.c.d).
 */
export function embeddedIpv4(address: string): string | undefined {
  const b = ipv6Bytes(address);
  if (!b) return undefined;
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const tail = `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return tail; // ::ffff:0:0/96
  if (zeros(0, 12) && !zeros(12, 16) && !(zeros(12, 15) && b[15] === 1)) return tail; // ::/96 (not :: or ::1)
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(4, 12)) return tail; // 64:ff9b::/96
  return undefined;
}

/** Whether an IP address is one no client-named URL may reach (loopback, private, link-local, ...). */
export function isBlockedAddress(address: string): boolean {
  const family = isIP(address.replace(/%.*$/, ''));
  if (family === 4) return BLOCKED.check(address, 'ipv4');
  if (family === 6) {
    const v4 = embeddedIpv4(address);
    if (v4 !== undefined) return BLOCKED.check(v4, 'ipv4');
    return BLOCKED.check(address.replace(/%.*$/, ''), 'ipv6');
  }
  return true; // not an IP address at all
}

/** Parses allow-list entries; throws on one that is not an IP, a CIDR range or a host name. */
export function parseAllowList(entries: readonly string[]): { addresses: BlockList; hosts: Set<string> } {
  const addresses = new BlockList();
  const hosts = new Set<string>();
  for (const raw of entries) {
    const e = raw.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
    if (!e) continue;
    const cidr = /^(.+)\/(\d{1,3})$/.exec(e);
    if (cidr) {
      const family = isIP(cidr[1]!);
      const prefix = Number(cidr[2]);
      if (!family || prefix > (family === 4 ? 32 : 128)) throw new Error(`"${raw}" is not a valid CIDR range`);
      addresses.addSubnet(cidr[1]!, prefix, family === 4 ? 'ipv4' : 'ipv6');
    } else if (isIP(e)) {
      addresses.addAddress(e, isIP(e) === 4 ? 'ipv4' : 'ipv6');
    } else if (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(e)) {
      hosts.add(e);
    } else {
      throw new Error(`"${raw}" is not an IP address, CIDR range or host name`);
    }
  }
  return { addresses, hosts };
}

const defaultResolve = (hostname: string): Promise<LookupAddress[]> =>
  new Promise((resolve, reject) => dnsLookup(hostname, { all: true, verbatim: true }, (err, addrs) => (err ? reject(err) : resolve(addrs))));

export class UrlGuard {
  private readonly allow: { addresses: BlockList; hosts: Set<string> };
  private readonly resolve: (hostname: string) => Promise<LookupAddress[]>;

  constructor(options: UrlGuardOptions = {}) {
    this.allow = parseAllowList(options.allow ?? []);
    this.resolve = options.resolve ?? defaultResolve;
  }

  /** Whether `address` (reached as `hostname`) may be connected to. */
  addressAllowed(address: string, hostname?: string): boolean {
    if (hostname && this.allow.hosts.has(hostname.toLowerCase())) return true;
    const bare = address.replace(/%.*$/, '');
    const family = isIP(bare);
    if (family === 0) return false;
    if (this.allow.addresses.check(bare, family === 4 ? 'ipv4' : 'ipv6')) return true;
    const v4 = family === 6 ? embeddedIpv4(bare) : undefined;
    if (v4 !== undefined && this.allow.addresses.check(v4, 'ipv4')) return true;
    return !isBlockedAddress(bare);
  }

  /** Syntax, scheme and (for IP-literal hosts) address; no DNS. Throws UrlRefusedError. */
  checkUrl(raw: string | URL): URL {
    let url: URL;
    try {
      url = typeof raw === 'string' ? new URL(raw) : raw;
    } catch {
      throw new UrlRefusedError('syntax', `not a URL: ${JSON.stringify(String(raw).slice(0, 100))}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new UrlRefusedError('scheme', `unsupported URL scheme ${url.protocol} (only http and https)`);
    }
    if (url.username || url.password) throw new UrlRefusedError('credentials', 'URLs with a user name or password are not fetched');
    const host = hostOf(url);
    if (isIP(host) && !this.addressAllowed(host)) {
      throw new UrlRefusedError('blocked', `${host} is not a public address (loopback, private, link-local and similar addresses are refused)`);
    }
    return url;
  }

  /** Resolves the host and checks every address (what a connection would meet). Throws UrlRefusedError. */
  async checkResolved(raw: string | URL): Promise<URL> {
    const url = this.checkUrl(raw);
    const host = hostOf(url);
    if (isIP(host)) return url;
    await this.lookupChecked(host);
    return url;
  }

  private async lookupChecked(host: string): Promise<LookupAddress[]> {
    let addrs: LookupAddress[];
    try {
      addrs = await this.resolve(host);
    } catch (err) {
      throw new UrlRefusedError('dns', `could not resolve ${host}: ${(err as Error).message}`);
    }
    if (!addrs.length) throw new UrlRefusedError('dns', `${host} has no address`);
    const bad = addrs.find((a) => !this.addressAllowed(a.address, host));
    if (bad) throw new UrlRefusedError('blocked', `${host} resolves to ${bad.address}, which is not a public address`);
    return addrs;
  }

  /** The lookup the socket uses: resolves, refuses blocked addresses, hands back the checked ones. */
  private readonly lookup: LookupFunction = (hostname, options, callback) => {
    this.lookupChecked(hostname).then(
      (addrs) => {
        const family = typeof options === 'object' ? options.family : undefined;
        const fitting = family === 4 || family === 6 ? addrs.filter((a) => a.family === family) : addrs;
        const list = fitting.length ? fitting : addrs;
        if (typeof options === 'object' && options.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
        else callback(null, list[0]!.address, list[0]!.family);
      },
      // The refusal itself reaches the request's 'error' handler (net passes the lookup error through).
      (err: Error) => callback(err as NodeJS.ErrnoException, '', 0),
    );
  };

  /**
   * One HTTP exchange under the guard's rules. Resolves with any status (redirects followed for GET);
   * throws UrlRefusedError when the URL, an address, a redirect, the size or the time is refused.
   */
  async request(raw: string | URL, req: GuardedRequest): Promise<GuardedResponse> {
    const method = req.method ?? 'GET';
    const maxRedirects = req.maxRedirects ?? (method === 'GET' ? 5 : 0);
    const signals = [AbortSignal.timeout(req.timeoutMs), ...(req.signal ? [req.signal] : [])];
    const signal = AbortSignal.any(signals);
    let url = this.checkUrl(raw);
    for (let hop = 0; ; hop++) {
      const res = await this.once(url, method, req, signal);
      const location = res.headers.location;
      if (res.status >= 300 && res.status < 400 && location && method === 'GET' && maxRedirects > 0) {
        if (hop >= maxRedirects) throw new UrlRefusedError('redirect', `more than ${maxRedirects} redirects`);
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new UrlRefusedError('redirect', `bad redirect location ${JSON.stringify(location.slice(0, 100))}`);
        }
        try {
          url = this.checkUrl(next);
        } catch (err) {
          if (err instanceof UrlRefusedError) throw new UrlRefusedError('redirect', `redirect refused: ${err.message}`);
          throw err;
        }
        continue;
      }
      return res;
    }
  }

  private once(url: URL, method: 'GET' | 'POST', req: GuardedRequest, signal: AbortSignal): Promise<GuardedResponse> {
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<GuardedResponse>((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        reject(asRefusal(err, url, signal, req.timeoutMs));
      };
      const r = lib.request(
        url,
        { method, headers: req.headers, lookup: this.lookup, signal, agent: false },
        (res) => {
          const status = res.statusCode ?? 0;
          const redirect = status >= 300 && status < 400 && res.headers.location !== undefined;
          const declared = Number(res.headers['content-length'] ?? NaN);
          if (!redirect && declared > req.maxBytes) {
            res.destroy();
            return fail(new UrlRefusedError('too_large', `the answer from ${url.host} is over ${req.maxBytes} bytes`));
          }
          const chunks: Buffer[] = [];
          let total = 0;
          res.on('data', (chunk: Buffer) => {
            total += chunk.length;
            if (total > req.maxBytes) {
              res.destroy();
              fail(new UrlRefusedError('too_large', `the answer from ${url.host} is over ${req.maxBytes} bytes`));
              return;
            }
            if (!redirect) chunks.push(chunk);
          });
          res.on('error', fail);
          res.on('end', () => {
            if (settled) return;
            settled = true;
            resolve({ status, headers: res.headers, body: Buffer.concat(chunks), url: url.href });
          });
        },
      );
      r.on('error', fail);
      r.end(req.body);
    });
  }
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

function asRefusal(err: unknown, url: URL, signal: AbortSignal, timeoutMs: number): UrlRefusedError {
  if (err instanceof UrlRefusedError) return err;
  const e = err as NodeJS.ErrnoException;
  if (signal.aborted) {
    const reason = signal.reason as Error | undefined;
    if (reason?.name === 'TimeoutError') return new UrlRefusedError('timeout', `no answer from ${url.host} within ${timeoutMs / 1000} s`);
    return new UrlRefusedError('network', `request to ${url.host} was aborted`);
  }
  return new UrlRefusedError('network', `could not reach ${url.host}: ${e?.message ?? String(err)}`);
}
