/** A one-line progress bar on stderr (redrawn in place on a terminal, one line per update otherwise). */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr) {
  const width = 30;
  const started = Date.now();
  return {
    update(done: number, total: number): void {
      const filled = Math.round((done / total) * width);
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      const line = `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${secs}s`;
      if (stream.isTTY) stream.write(`\r${line}${done === total ? '\n' : ''}`);
      else stream.write(`${line}\n`);
    },
  };
}
