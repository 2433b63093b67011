/**
 * Progress of long CLI work: on a terminal one line that updates in place, elsewhere (logs, CI)
 * a line per step; then a summary.
 */
export interface Progress {
  update(done: number, note?: string): void;
  finish(summary: string): void;
}

export function createProgress(label: string, total: number, out: NodeJS.WriteStream = process.stderr): Progress {
  const started = performance.now();
  const tty = Boolean(out.isTTY);
  const rate = (done: number) => {
    const seconds = (performance.now() - started) / 1000;
    return seconds > 0 ? Math.round(done / seconds) : 0;
  };
  return {
    update(done, note) {
      const percent = total ? Math.floor((done / total) * 100) : 100;
      const line = `${label}: ${done.toLocaleString('en')}/${total.toLocaleString('en')} (${percent}%, ${rate(done).toLocaleString('en')}/s)${note ? ` ${note}` : ''}`;
      out.write(tty ? `\r\u001b[2K${line}` : `${line}\n`);
    },
    finish(summary) {
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      out.write(`${tty ? '\r\u001b[2K' : ''}${summary} in ${seconds} s\n`);
    },
  };
}
