/**
 * Timestamps as stored: ISO-8601 UTC with microseconds ("2025-01-02T03:04:05.123456Z"), strictly
 * increasing within a process, so text order is time order and cursors over created_at never tie
 * inside one process.
 */
let last = 0;

export function timestamp(): string {
  // Microseconds since the epoch, from the millisecond clock plus a counter when it has not moved.
  let us = Date.now() * 1000;
  if (us <= last) us = last + 1;
  last = us;
  const ms = Math.floor(us / 1000);
  const iso = new Date(ms).toISOString(); // 2025-01-02T03:04:05.123Z
  return `${iso.slice(0, 23)}${String(us % 1000).padStart(3, '0')}Z`;
}

/** A stored timestamp, or any ISO time a client sends, as a Date (microseconds dropped). */
export function parseTimestamp(s: string): Date {
  return new Date(s);
}

/** The timestamp one microsecond after `ts` (a stored timestamp). */
export function nextMicrosecond(ts: string): string {
  const us = Date.parse(ts.slice(0, 23) + 'Z') * 1000 + Number(ts.slice(23, 26) || '0') + 1;
  const iso = new Date(Math.floor(us / 1000)).toISOString();
  return `${iso.slice(0, 23)}${String(us % 1000).padStart(3, '0')}Z`;
}
