/** Stopping on SIGTERM/SIGINT with a grace period; a second signal stops at once. */
export async function untilSignal(graceSeconds: number, grants: string, rest: string, stop: (graceMs: number) => Promise<void>): Promise<never> {
  await new Promise<void>((resolve) => {
    const first = (signal: string) => {
      process.stderr.write(`darkroom: ${signal}: ${grants} ${graceSeconds} s to finish (DARKROOM_SHUTDOWN_GRACE), ${rest}\n`);
      stop(graceSeconds * 1000).then(resolve, resolve);
      const again = (s: string) => {
        process.stderr.write(`darkroom: ${s} again: stopping now\n`);
        process.exit(1);
      };
      process.once('SIGINT', again);
      process.once('SIGTERM', again);
    };
    process.once('SIGINT', () => first('SIGINT'));
    process.once('SIGTERM', () => first('SIGTERM'));
  });
  process.stderr.write('darkroom: stopped\n');
  // Every service is closed: whatever handle a native library keeps open must not hold the process.
  process.exit(0);
}
