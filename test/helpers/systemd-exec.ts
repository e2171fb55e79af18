/**
 * systemd's reading of unit files and command lines, written from its documentation
 * (systemd.syntax(7), systemd.service(5) "Command lines", systemd.unit(5) "Specifiers")
 * and extract_first_word() with EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE, independently of
 * flint's quoting: tests use it to check that the words systemd runs are the config's.
 */

/** Sections of a unit file as [key, value] lines: continuations joined with a space, comments skipped. */
export function settings(text: string): Map<string, Array<[string, string]>> {
  const out = new Map<string, Array<[string, string]>>();
  let section = '';
  let cont = '';
  for (const raw of text.split('\n')) {
    if (/^\s*[#;]/.test(raw)) continue;
    const line = cont + raw;
    if (/(^|[^\\])(\\\\)*\\$/.test(line)) {
      cont = `${line.slice(0, -1)} `;
      continue;
    }
    cont = '';
    const l = line.trim();
    if (l === '') continue;
    if (l.startsWith('[')) {
      section = l.slice(1, -1);
      out.set(section, out.get(section) ?? []);
      continue;
    }
    const eq = l.indexOf('=');
    out.get(section)?.push([l.slice(0, eq).trim(), l.slice(eq + 1).trim()]);
  }
  return out;
}

export function values(text: string, section: string, key: string): string[] {
  return (settings(text).get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v);
}

/** Specifiers as systemd expands them in this unit: %% and the few the units use on purpose. */
function specifiers(s: string, unit: string): string {
  return s.replace(/%(.)/g, (_m, c: string) => {
    if (c === '%') return '%';
    if (c === 't') return '/run';
    if (c === 'n') return unit;
    if (c === 'N') return unit.slice(0, unit.lastIndexOf('.'));
    throw new Error(`unexpected specifier %${c}`);
  });
}

const C_ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', s: ' ', '\\': '\\', '"': '"', "'": "'" };

/** extract_first_word(EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE) over a whole line. */
function splitCommand(line: string): string[] {
  const words: string[] = [];
  let cur: string | undefined;
  let quote: string | undefined;
  const chars = [...line];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] ?? '';
    if (c === '\\') {
      const n = chars[++i] ?? '';
      if (n === 'x') {
        cur = (cur ?? '') + String.fromCharCode(parseInt(chars.slice(i + 1, i + 3).join(''), 16));
        i += 2;
      } else {
        const e = C_ESCAPES[n];
        if (e === undefined) throw new Error(`unknown escape \\${n}`);
        cur = (cur ?? '') + e;
      }
    } else if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else cur = (cur ?? '') + c;
    } else if (c === '"' || c === "'") {
      quote = c;
      cur = cur ?? '';
    } else if (/\s/.test(c)) {
      if (cur !== undefined) words.push(cur);
      cur = undefined;
    } else cur = (cur ?? '') + c;
  }
  if (quote !== undefined) throw new Error('unterminated quote');
  if (cur !== undefined) words.push(cur);
  return words;
}

/** What systemd does to each word when the command runs: $$ is $, any other $ would be a variable. */
function environment(word: string): string {
  return word.replace(/\$(.?)/g, (_m, c: string) => {
    if (c === '$') return '$';
    throw new Error(`word "${word}" would have a variable substituted`);
  });
}

/** The argv systemd runs for an ExecStart= value of `unit`. */
export function argvOf(value: string, unit: string): string[] {
  return splitCommand(specifiers(value, unit)).map(environment);
}

