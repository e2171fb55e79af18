/** Where the CLI writes: people get colour on a terminal, machines get plain text. */
import { readlinkSync, writeSync } from 'node:fs';

export interface Output {
  out(s: string): void;
  err(s: string): void;
  color: boolean;
}

/**
 * Straight to file descriptors 1 and 2: process.stdout would load Node's whole stream
 * machinery, which costs more start-up time than validating a small config.
 */
export function processOutput(): Output {
  const color = isTerminal(1) && process.env.NO_COLOR === undefined && process.env.TERM !== 'dumb';
  return { out: (s) => writeAll(1, s + '\n'), err: (s) => writeAll(2, s + '\n'), color };
}

function writeAll(fd: number, text: string): void {
  let buf = Buffer.from(text, 'utf8');
  while (buf.length > 0) {
    try {
      buf = buf.subarray(writeSync(fd, buf));
    } catch (e) {
      // A non-blocking pipe that is full: wait for the reader rather than lose output.
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
  }
}

/** Whether FD is a terminal, without node:tty (which loads node:net and the streams). */
function isTerminal(fd: number): boolean {
  try {
    return /^\/dev\/(pts\/\d+|tty\w*|console)$/.test(readlinkSync(`/proc/self/fd/${fd}`));
  } catch {
    return false;
  }
}
