/** Where the CLI writes: people get colour on a terminal, machines get plain text. */
export interface Output {
  out(s: string): void;
  err(s: string): void;
  color: boolean;
}

export function processOutput(): Output {
  const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined && process.env.TERM !== 'dumb';
  return {
    out: (s) => process.stdout.write(s + '\n'),
    err: (s) => process.stderr.write(s + '\n'),
    color,
  };
}
