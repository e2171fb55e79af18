/**
 * Progress of a long write: a bar with bytes and rate that redraws itself on a
 * terminal, plain lines (at most one every few seconds, and one at the end) otherwise,
 * so a log stays readable.
 */

export interface ProgressSink {
  /** Writes text without a newline (terminal) or one line. */
  write(s: string): void;
  tty: boolean;
  /** Terminal width for the bar. */
  columns?: number;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** One progress line: "42% 120 MiB of 286 MiB, 30 MiB/s". */
export function progressText(done: number, total: number, seconds: number): string {
  const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
  const rate = seconds > 0 ? `${formatBytes(Math.round(done / seconds))}/s` : '-';
  return `${pct}% ${formatBytes(done)} of ${formatBytes(total)}, ${rate}`;
}

export function bar(done: number, total: number, width: number): string {
  const w = Math.max(10, width);
  const filled = total > 0 ? Math.min(w, Math.round((done / total) * w)) : w;
  return `[${'#'.repeat(filled)}${'.'.repeat(w - filled)}]`;
}

export class Progress {
  private readonly start: number;
  private lastLine: number;

  constructor(
    private readonly sink: ProgressSink,
    private readonly total: number,
    private readonly what: string,
    /** Milliseconds between plain lines. */
    private readonly every = 5000,
    private readonly now: () => number = Date.now,
  ) {
    this.start = now();
    this.lastLine = this.start;
  }

  update(done: number): void {
    const secs = (this.now() - this.start) / 1000;
    const text = progressText(done, this.total, secs);
    if (this.sink.tty) {
      this.sink.write(`\r${this.what} ${bar(done, this.total, this.barWidth(text))} ${text}\x1b[K`);
      return;
    }
    if (this.now() - this.lastLine < this.every) return;
    this.lastLine = this.now();
    this.sink.write(`${this.what}: ${text}\n`);
  }

  finish(done: number): void {
    const secs = (this.now() - this.start) / 1000;
    const text = progressText(done, this.total, secs);
    this.sink.write(this.sink.tty ? `\r${this.what} ${bar(done, this.total, this.barWidth(text))} ${text}\x1b[K\n` : `${this.what}: ${text}, done\n`);
  }

  /** What is left of the terminal's width for the bar, at most 40 (the text grows by a few characters). */
  private barWidth(text: string): number {
    return Math.min(40, (this.sink.columns ?? 80) - text.length - this.what.length - 8);
  }
}
