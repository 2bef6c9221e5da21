/**
 * Structured logs: pino, one JSON object a line on stderr (`DARKROOM_LOG_FORMAT=pretty`: one
 * readable line instead), at `DARKROOM_LOG_LEVEL` and above. New code logs through a logger and its
 * children (`logger.child({ requestId, jobId })`); the code that takes a plain
 * `log: (message: string) => void` keeps working through `toLogFunction`. Where the lines go is
 * injectable, so tests read them back.
 */
import { hostname } from 'node:os';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogFormat, LogLevel } from '../config/config.ts';

export type { Logger };

export interface LoggerOptions {
  /** Where the lines go (each call gets one whole line, newline included); default stderr, written synchronously. */
  destination?: DestinationStream | ((line: string) => void);
  /** Fields on every line besides pid and hostname, e.g. `{ role: 'worker' }`. */
  base?: Record<string, unknown>;
}

export function createLogger(config: { logLevel: LogLevel; logFormat?: LogFormat }, options: LoggerOptions = {}): Logger {
  const given = options.destination;
  const sink: DestinationStream = typeof given === 'function' ? { write: given } : (given ?? pino.destination({ dest: 2, sync: true }));
  return pino(
    {
      level: config.logLevel,
      base: { pid: process.pid, hostname: hostname(), ...options.base },
      timestamp: isoTime,
      // "level":"info" rather than pino's 30: what log collectors and people read without a table.
      formatters: { level: (label) => ({ level: label }) },
    },
    config.logFormat === 'pretty' ? prettyLines(sink) : sink,
  );
}

let lastMs = NaN;
let lastTime = '';

/**
 * pino's `isoTime` (`,"time":"2026-01-02T03:04:05.678Z"`), made once per millisecond: under load
 * many lines share a millisecond, and formatting the date cost about as much as the rest of a line.
 */
export function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

/** A logger whose JSON lines (without their newline) go to `write`: tests, and call sites that hold only a log function. */
export function loggerWritingTo(write: (line: string) => void, logLevel: LogLevel = 'info'): Logger {
  return createLogger({ logLevel }, { destination: (line) => write(line.endsWith('\n') ? line.slice(0, -1) : line) });
}

/** The `log(message)` function the existing code passes around, writing `info` lines through `logger`. */
export function toLogFunction(logger: Logger): (message: string) => void {
  return (message) => logger.info(message);
}

const PRETTY_OMIT = new Set(['time', 'level', 'msg', 'pid', 'hostname']);

/** `12:01:02.345 INFO  request method=GET route="/v1/credits" status=200`: for a terminal, not for collectors. */
function prettyLines(sink: DestinationStream): DestinationStream {
  return {
    write(line: string) {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        sink.write(line);
        return;
      }
      const time = typeof o['time'] === 'string' ? o['time'].slice(11, 23) : '';
      const level = String(o['level'] ?? '').toUpperCase().padEnd(5);
      const fields = Object.entries(o)
        .filter(([k]) => !PRETTY_OMIT.has(k))
        .map(([k, v]) => `${k}=${typeof v === 'string' && /^[\w./:@-]*$/.test(v) && v !== '' ? v : JSON.stringify(v)}`);
      sink.write(`${time} ${level} ${String(o['msg'] ?? '')}${fields.length ? ' ' + fields.join(' ') : ''}\n`);
    },
  };
}
