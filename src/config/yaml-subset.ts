/**
 * A parser for the plain YAML that configs are written in: block maps and lists, plain
 * and quoted one-line scalars, `|` block text, one-line `[a, b]` and `{k: v}`
 * collections, and comments.
 *
 * Why it exists: `flint validate` is a start-up-bound command, and the `yaml` library
 * runs cold in every run: its lexer, parser and composer cost several milliseconds per
 * kilobyte before V8 has compiled them, more than the rest of validation together (see
 * bench/README.md). This parser does far less work per character. It is not a second
 * YAML implementation: it returns `undefined` (and `yaml` parses the text) at anything
 * outside that subset or anything `yaml` would warn about or refuse, such as anchors,
 * tags, flow collections over several lines, folded or multi-line scalars, tabs,
 * duplicate keys and odd indentation. Plain scalars are typed by `yaml`'s own core-schema tags, so `0644`,
 * `true`, `~` and `1e3` mean what they mean to `yaml`. A differential test
 * (test/unit/yaml-subset.test.ts) holds its trees equal to `yaml`'s on the examples,
 * hand-written cases, and thousands of mutations and random documents.
 */
import { isScalar, Schema } from 'yaml';
import type { ParseOptions, ScalarTag } from 'yaml';
import type { Span } from './diagnostics.js';

export type TreeNode = TreeMap | TreeSeq | TreeScalar | TreeAlias;

export interface TreeMap {
  kind: 'map';
  range: Span;
  pairs: Array<{ key: TreeNode | null; value: TreeNode | null }>;
}

export interface TreeSeq {
  kind: 'seq';
  range: Span;
  items: Array<TreeNode | null>;
}

export interface TreeScalar {
  kind: 'scalar';
  range: Span;
  value: unknown;
  /** The source text of a plain (unquoted) scalar, e.g. `0644`. */
  plain?: string;
}

export interface TreeAlias {
  kind: 'alias';
  range: Span;
  target: TreeNode | undefined;
}

/** Thrown inside the parser at anything outside the subset; never escapes it. */
class OutsideSubset {}
const OUT = new OutsideSubset();

// Searches bounded by the line, as regexes: they run natively while this parser's own
// code is still cold, and an unbounded indexOf would rescan the rest of the text.
/** The first `:` on the line followed by a space or the line's end. */
const KEY_COLON = /[^\n]*?:(?= |\n|$)/y;
/** Up to a comment (` #`) or the line's end. */
const COMMENT_OR_END = /[^\n]*?(?= #|\n|$)/y;
/** Blank lines and comment lines, from a line start. */
const SKIP_LINES = /(?:[ ]*(?:#[^\n]*)?(?:\n|$))*/y;

const SPACE = 32;
const NL = 10;
const HASH = 35;
const COLON = 58;
const DASH = 45;

let coreTags: ScalarTag[] | undefined;

/** A plain scalar typed as `yaml` types it under the YAML 1.2 core schema (its composer's rule). */
function resolvePlain(text: string): unknown {
  coreTags ??= new Schema({ schema: 'core' }).tags.filter((t): t is ScalarTag => t.collection === undefined && t.default === true);
  // Only these first characters can start a null, a boolean or a number in the core
  // schema (see its tags' tests), and its nulls and booleans are at most 5 long: every
  // other plain scalar is a string.
  if (text.length > 5 ? !/^[-+.0-9]/.test(text) : !/^(?:$|[-+.~0-9nNtTfF])/.test(text)) return text;
  for (const tag of coreTags) {
    if (tag.test?.test(text) !== true) continue;
    let failed = false;
    const res = tag.resolve(text, () => (failed = true), PARSE_OPTIONS);
    if (failed) throw OUT;
    return isScalar(res) ? res.value : res;
  }
  return text;
}
const PARSE_OPTIONS: ParseOptions = { intAsBigInt: false, strict: true, uniqueKeys: true };

/**
 * The tree of a YAML text in the subset, or undefined where `yaml` must parse it. Spans
 * of scalars and keys are exact; a map or list ends at the end of its last line, which
 * may be short of `yaml`'s end (that can also take in trailing comments) but never on
 * the map's first line, the only place diagnostics read it.
 */
export function parseYamlSubset(text: string): TreeNode | undefined {
  // Tabs, CR, control characters, a BOM and lone surrogates: all left to yaml.
  if (/[\x00-\x09\x0b-\x1f\x7f-\x9f\ufeff\ud800-\udfff]|^(?:---|\.\.\.|%)/m.test(text)) return undefined;
  try {
    const p = new SubsetParser(text);
    const first = p.nextContentLine(0);
    if (first < 0 || p.indentAt(first) !== 0) return undefined;
    const node = p.blockNode(first, -1);
    return p.nextContentLine(p.pos) >= 0 ? undefined : node;
  } catch (e) {
    if (e === OUT) return undefined;
    throw e;
  }
}

class SubsetParser {
  /** Offset of the next line not yet consumed. */
  pos = 0;

  constructor(private readonly text: string) {}

  /** A space, a line end or the end of the text. */
  private blankAt(i: number): boolean {
    const c = this.text.charCodeAt(i);
    return c === SPACE || c === NL || i >= this.text.length;
  }

  private lineEnd(i: number): number {
    const e = this.text.indexOf('\n', i);
    return e < 0 ? this.text.length : e;
  }

  indentAt(lineStart: number): number {
    let i = lineStart;
    while (this.text.charCodeAt(i) === SPACE) i++;
    return i - lineStart;
  }

  /** Start of the first line from `from` that holds more than spaces and a comment, or -1. */
  nextContentLine(from: number): number {
    if (from >= this.text.length) return -1;
    SKIP_LINES.lastIndex = from;
    SKIP_LINES.test(this.text); // always matches, if only the empty string
    const i = SKIP_LINES.lastIndex;
    return i >= this.text.length ? -1 : i;
  }

  /** The block node whose first line starts at `line`, inside a parent indented `parent`. */
  blockNode(line: number, parent: number): TreeMap | TreeSeq {
    const indent = this.indentAt(line);
    if (indent <= parent) throw OUT;
    const at = line + indent;
    if (this.isSeqEntry(at)) return this.blockSeq(line, indent);
    if (this.keyColon(at) >= 0) return this.blockMap(line, indent, at);
    throw OUT;
  }

  private isSeqEntry(at: number): boolean {
    return this.text.charCodeAt(at) === DASH && this.blankAt(at + 1);
  }

  /** The offset of the colon ending a plain key that starts at `at`, or -1. */
  private keyColon(at: number): number {
    const c = this.text.charCodeAt(at);
    // `? ` starts an explicit key, which the subset leaves to yaml.
    if (isIndicator(c) || (c === 0x3f && this.blankAt(at + 1))) return -1;
    KEY_COLON.lastIndex = at;
    if (!KEY_COLON.test(this.text)) return -1;
    const colon = KEY_COLON.lastIndex - 1;
    return colon < this.commentOrEnd(at) ? colon : -1;
  }

  /** Where a comment starts on the line of `at`, or the line's end. */
  private commentOrEnd(at: number): number {
    COMMENT_OR_END.lastIndex = at;
    COMMENT_OR_END.test(this.text); // always matches
    return COMMENT_OR_END.lastIndex;
  }

  /** A block map whose first key starts at `at`, on a line indented `indent`. */
  private blockMap(line: number, indent: number, at: number): TreeMap {
    const pairs: TreeMap['pairs'] = [];
    const seen = new Set<unknown>();
    let keyAt = at;
    for (;;) {
      const colon = this.keyColon(keyAt);
      // yaml refuses an implicit key of over 1024 characters; leave those to it.
      if (colon < 0 || this.text.charCodeAt(colon - 1) === SPACE || colon - keyAt > 1000) throw OUT;
      const keyText = this.text.slice(keyAt, colon);
      const keyValue = resolvePlain(keyText);
      if (!isKeyValue(keyValue) || seen.has(keyValue)) throw OUT;
      seen.add(keyValue);
      const key: TreeScalar = { kind: 'scalar', range: { start: keyAt, end: colon }, value: keyValue, plain: keyText };
      pairs.push({ key, value: this.valueAfter(colon + 1, indent, true) });
      const at = this.nextAtIndent(indent);
      if (at < 0 || this.isSeqEntry(at)) break;
      keyAt = at;
    }
    return { kind: 'map', range: { start: line + indent, end: Math.min(this.pos, this.text.length) }, pairs };
  }

  /**
   * Where the next entry of a block at `indent` starts, or -1 where the block ends (the
   * text ends or a line is indented less). A line indented more is yaml's to explain.
   */
  private nextAtIndent(indent: number): number {
    const next = this.nextContentLine(this.pos);
    if (next < 0) return -1;
    const ind = this.indentAt(next);
    if (ind > indent) throw OUT;
    return ind < indent ? -1 : next + ind;
  }

  /** A block list whose first `-` is on `line`, indented `indent`. */
  private blockSeq(line: number, indent: number): TreeSeq {
    const items: TreeSeq['items'] = [];
    let dash = line + indent;
    for (;;) {
      items.push(this.seqItem(dash, indent));
      const at = this.nextAtIndent(indent);
      if (at < 0 || !this.isSeqEntry(at)) break;
      dash = at;
    }
    return { kind: 'seq', range: { start: line + indent, end: Math.min(this.pos, this.text.length) }, items };
  }

  /** One `- item`: a value on the dash's line, a map that starts there, or the lines below. */
  private seqItem(dash: number, indent: number): TreeNode | null {
    let at = dash + 1;
    while (this.text.charCodeAt(at) === SPACE) at++;
    const c = this.text.charCodeAt(at);
    if (c === DASH && this.isSeqEntry(at)) throw OUT;
    if (at < this.text.length && c !== NL && c !== HASH && this.keyColon(at) >= 0) {
      // `- key: value`: a map whose keys line up with this first one.
      const lineStart = dash - indent;
      return this.blockMap(lineStart, at - lineStart, at);
    }
    return this.valueAfter(dash + 1, indent, false);
  }

  /**
   * The value after a key's colon or a list's dash at `from`: on the same line, on the
   * lines below (indented more than `indent`, or a list at `indent` under a key), or
   * empty (null, placed where yaml places it: the first non-space after the indicator).
   */
  private valueAfter(from: number, indent: number, underKey: boolean): TreeNode | null {
    let at = from;
    while (this.text.charCodeAt(at) === SPACE) at++;
    const end = this.lineEnd(at);
    const c = this.text.charCodeAt(at);
    if (at >= this.text.length || c === NL || c === HASH) {
      // The indicator is followed by a space or a line end, so a `#` here starts a comment.
      this.pos = end + 1;
      const next = this.nextContentLine(this.pos);
      if (next >= 0) {
        const ind = this.indentAt(next);
        // A list may sit at its key's own indentation.
        const listAtKey = underKey && ind === indent && this.isSeqEntry(next + ind);
        if (ind > indent || listAtKey) return this.blockNode(next, listAtKey ? indent - 1 : indent);
      }
      return { kind: 'scalar', range: { start: at, end: at }, value: null, plain: '' };
    }
    let node: TreeNode;
    let after: number;
    if (c === 0x22 /* " */) [node, after] = this.doubleQuoted(at, end);
    else if (c === 0x27 /* ' */) [node, after] = this.singleQuoted(at, end);
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) [node, after] = this.flowCollection(at, end);
    else if (c === 0x7c /* | */) return this.literal(at, end, indent);
    else [node, after] = this.plainScalar(at);
    this.endOfLine(after, end);
    this.pos = end + 1;
    // A more indented line below a one-line value would continue it (a multi-line plain
    // scalar) or be an error: both are yaml's to handle.
    const next = this.nextContentLine(this.pos);
    if (next >= 0 && this.indentAt(next) > indent) throw OUT;
    return node;
  }

  /** Only spaces and a comment may follow a value on its line. */
  private endOfLine(after: number, end: number): void {
    let i = after;
    while (i < end && this.text.charCodeAt(i) === SPACE) i++;
    if (i < end && !(this.text.charCodeAt(i) === HASH && i > after)) throw OUT;
  }

  private plainScalar(at: number): [TreeScalar, number] {
    const c = this.text.charCodeAt(at);
    if (isIndicator(c) || ((c === DASH || c === 0x3f /* ? */) && this.blankAt(at + 1))) throw OUT;
    let stop = this.commentOrEnd(at);
    while (this.text.charCodeAt(stop - 1) === SPACE) stop--;
    const source = this.text.slice(at, stop);
    // `a: b: c` and `a: b:` are maps on one line, which YAML refuses: yaml's call. (The
    // searches here stay inside the value: one over the rest of the text per value
    // would make a long config quadratic.)
    if (source.includes(': ') || source.endsWith(':')) throw OUT;
    return [{ kind: 'scalar', range: { start: at, end: stop }, value: resolvePlain(source), plain: source }, stop];
  }

  private doubleQuoted(at: number, end: number): [TreeScalar, number] {
    const close = this.text.indexOf('"', at + 1);
    if (close >= 0 && close < end) {
      const value = this.text.slice(at + 1, close);
      if (!value.includes('\\')) return [{ kind: 'scalar', range: { start: at, end: close + 1 }, value }, close + 1];
    }
    let out = '';
    let run = at + 1;
    for (let i = at + 1; i < end; i++) {
      const c = this.text.charCodeAt(i);
      if (c === 0x22) {
        out += this.text.slice(run, i);
        return [{ kind: 'scalar', range: { start: at, end: i + 1 }, value: out }, i + 1];
      }
      if (c === 0x5c /* \ */) {
        out += this.text.slice(run, i) + this.escape(i + 1);
        i += this.text.charCodeAt(i + 1) === 0x75 /* u */ ? 5 : 1;
        run = i + 1;
      }
    }
    throw OUT; // runs on to another line
  }

  /** The common escapes; the rarer ones (\x, \U, \N, line continuations) are left to yaml. */
  private escape(i: number): string {
    const c = this.text[i];
    switch (c) {
      case 'n':
        return '\n';
      case 't':
        return '\t';
      case '\\':
      case '"':
      case '/':
        return c;
      case 'r':
        return '\r';
      case '0':
        return '\0';
      case 'u': {
        const hex = this.text.slice(i + 1, i + 5);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw OUT;
        const code = parseInt(hex, 16);
        if (code >= 0xd800 && code <= 0xdfff) throw OUT;
        return String.fromCharCode(code);
      }
      default:
        throw OUT;
    }
  }

  private singleQuoted(at: number, end: number): [TreeScalar, number] {
    for (let i = at + 1; i < end; i++) {
      if (this.text.charCodeAt(i) !== 0x27) continue;
      if (this.text.charCodeAt(i + 1) === 0x27) {
        i++;
        continue;
      }
      return [{ kind: 'scalar', range: { start: at, end: i + 1 }, value: this.text.slice(at + 1, i).replaceAll("''", "'") }, i + 1];
    }
    throw OUT;
  }

  /** A value inside `[...]` or `{...}`: a quoted or plain scalar, or another flow collection. */
  private flowNode(i: number, end: number): [TreeNode, number] {
    const c = this.text.charCodeAt(i);
    if (c === 0x22) return this.doubleQuoted(i, end);
    if (c === 0x27) return this.singleQuoted(i, end);
    if (c === 0x5b || c === 0x7b) return this.flowCollection(i, end);
    const start = i;
    while (i < end && !isFlowStop(this.text.charCodeAt(i))) i++;
    let stop = i;
    while (this.text.charCodeAt(stop - 1) === SPACE) stop--;
    const source = this.text.slice(start, stop);
    if (source === '' || isIndicator(c) || ((c === DASH || c === 0x3f) && this.blankAt(start + 1))) throw OUT;
    return [{ kind: 'scalar', range: { start, end: stop }, value: resolvePlain(source), plain: source }, i];
  }

  /**
   * `[a, "b", [c]]` or `{k: v, l: [m]}` on one line. A colon inside a plain scalar, a
   * key without a value, an empty entry and a trailing comma are left to yaml.
   */
  private flowCollection(at: number, end: number): [TreeMap | TreeSeq, number] {
    const isMap = this.text.charCodeAt(at) === 0x7b;
    const close = isMap ? 0x7d : 0x5d;
    const items: TreeSeq['items'] = [];
    const pairs: TreeMap['pairs'] = [];
    const seen = new Set<unknown>();
    let i = at + 1;
    while (this.text.charCodeAt(i) === SPACE) i++;
    if (this.text.charCodeAt(i) !== close) {
      for (;;) {
        let node: TreeNode;
        [node, i] = this.flowNode(i, end);
        while (this.text.charCodeAt(i) === SPACE) i++;
        if (isMap) {
          if (node.kind !== 'scalar' || node.plain === undefined || this.text.charCodeAt(i) !== COLON || this.text.charCodeAt(i + 1) !== SPACE) throw OUT;
          if (!isKeyValue(node.value) || seen.has(node.value)) throw OUT;
          seen.add(node.value);
          i += 2;
          while (this.text.charCodeAt(i) === SPACE) i++;
          const key = node;
          [node, i] = this.flowNode(i, end);
          pairs.push({ key, value: node });
          while (this.text.charCodeAt(i) === SPACE) i++;
        } else items.push(node);
        const d = this.text.charCodeAt(i);
        if (d === close) break;
        if (d !== 0x2c /* , */) throw OUT;
        i++;
        while (this.text.charCodeAt(i) === SPACE) i++;
        if (this.text.charCodeAt(i) === close) throw OUT;
      }
    }
    const range = { start: at, end: i + 1 };
    return [isMap ? { kind: 'map', range, pairs } : { kind: 'seq', range, items }, i + 1];
  }

  /** `|` or `|-` and the lines below it, indented more than `indent`. */
  private literal(at: number, end: number, indent: number): TreeScalar {
    let h = at + 1;
    const strip = this.text.charCodeAt(h) === DASH;
    if (strip) h++;
    this.endOfLine(h, end); // so `|+`, `|2` and `|x` are yaml's
    const lines: string[] = [];
    let contentIndent = -1;
    let i = end + 1;
    let lastContentEnd = -1;
    let blankRun = 0;
    while (i <= this.text.length) {
      const e = this.lineEnd(i);
      if (i === this.text.length && e === i) break;
      const ind = this.indentAt(i);
      const blank = i + ind === e;
      if (blank) {
        if (contentIndent >= 0 && ind > contentIndent) throw OUT; // spaces that are content
        if (contentIndent < 0 && ind > indent + 1) throw OUT;
        blankRun++;
        i = e + 1;
        continue;
      }
      if (contentIndent < 0) {
        if (ind <= indent) break;
        contentIndent = ind;
      } else if (ind < contentIndent) break;
      for (; blankRun > 0; blankRun--) lines.push('');
      lines.push(this.text.slice(i + contentIndent, e));
      lastContentEnd = e;
      i = e + 1;
    }
    if (contentIndent < 0) throw OUT; // empty block text: rare, and yaml places it subtly
    const body = lines.join('\n');
    const value = strip ? body : body + '\n';
    const rangeEnd = lastContentEnd < this.text.length ? lastContentEnd + 1 : lastContentEnd;
    this.pos = lastContentEnd + 1;
    return { kind: 'scalar', range: { start: at, end: rangeEnd }, value };
  }
}

/** Characters that may not start a plain scalar or key, or that this subset leaves to yaml. */
function isIndicator(c: number): boolean {
  // , [ ] { } # & * ! | > ' " % @ ` :  (`-` and `?` only before a space: the callers')
  return c === 0x2c || c === 0x5b || c === 0x5d || c === 0x7b || c === 0x7d || c === HASH || c === 0x26 || c === 0x2a || c === 0x21 || c === 0x7c || c === 0x3e || c === 0x27 || c === 0x22 || c === 0x25 || c === 0x40 || c === 0x60 || c === COLON;
}

/** Keys the subset takes: strings, integers and booleans, which yaml compares by value for duplicates. */
function isKeyValue(v: unknown): boolean {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isInteger(v) && !Object.is(v, -0));
}

function isFlowStop(c: number): boolean {
  return c === 0x2c || c === 0x5d || c === 0x5b || c === 0x7b || c === 0x7d || c === HASH || c === COLON;
}
