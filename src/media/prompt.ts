/**
 * Questions on the terminal, for init and drive write. Nothing is asked when stdin is
 * not a terminal: a script must say --yes, never hang on a hidden question.
 */
import { createInterface } from 'node:readline';
import type { Interface } from 'node:readline';

export function canAsk(): boolean {
  return process.stdin.isTTY === true;
}

/** Undefined when there is no terminal to ask on. */
export async function askYesNo(question: string): Promise<boolean | undefined> {
  if (!canAsk()) return undefined;
  const p = new Prompter();
  try {
    return /^y(es)?$/i.test((await p.ask(question)).trim());
  } finally {
    p.close();
  }
}

/** A line-by-line questioner on stdin/stderr; secrets are read without echo. */
export class Prompter {
  private readonly rl: Interface;
  private muted = false;

  constructor() {
    this.rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    // readline echoes through _writeToOutput; a hidden answer must not reach the screen.
    const rl = this.rl as unknown as { _writeToOutput(s: string): void };
    const original = rl._writeToOutput.bind(rl);
    rl._writeToOutput = (s: string) => {
      if (!this.muted || s.includes('\n')) original(this.muted ? '\n' : s);
    };
  }

  ask(question: string, dflt?: string): Promise<string> {
    const q = dflt !== undefined && dflt !== '' ? `${question} [${dflt}] ` : `${question} `;
    return new Promise((resolve) => this.rl.question(q, (a) => resolve(a.trim() === '' && dflt !== undefined ? dflt : a)));
  }

  async secret(question: string): Promise<string> {
    try {
      return await new Promise((resolve) => {
        this.rl.question(`${question} `, resolve);
        // question() has drawn the prompt by now: from here on nothing typed is echoed.
        this.muted = true;
      });
    } finally {
      this.muted = false;
    }
  }

  close(): void {
    this.rl.close();
  }
}
