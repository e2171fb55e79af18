/**
 * What the page does apart from the DOM: flint's own validator, hashing and renderers on
 * the config text, and the edits the form makes to that text. Plain functions, so they
 * are tested in node as well as in the page.
 */
import { Document, isMap, isNode, isScalar, isSeq, parseDocument, visit } from 'yaml';
import type { Scalar } from 'yaml';
import { validateText } from '../src/config/validate.js';
import { countBySeverity, formatDiagnostic } from '../src/config/diagnostics.js';
import type { Diagnostic } from '../src/config/diagnostics.js';
import { renderConfigFile, RenderError } from '../src/convert/render.js';
import { hashPasswords } from '../src/media/hash-passwords.js';
import { combustionScript, needsNetwork } from '../src/media/combustion-stick.js';
import { hashPassword, verifyPassword } from '../src/crypt/sha-crypt.js';

export { hashPassword, verifyPassword };

/** The name the config has in the page, in messages and downloads, as on a stick. */
export const CONFIG_NAME = 'config.yaml';

export type Engine = 'flint' | 'combustion' | 'ignition' | 'cloud-init';

export interface PageProblem {
  diagnostic: Diagnostic;
  /** Exactly what `flint validate` prints for it (without colour). */
  text: string;
}

export interface Checked {
  problems: PageProblem[];
  errors: number;
  warnings: number;
}

export function check(text: string): Checked {
  const { diagnostics } = validateText(CONFIG_NAME, text);
  const { errors, warnings } = countBySeverity(diagnostics);
  return { problems: diagnostics.map((d) => ({ diagnostic: d, text: formatDiagnostic(d, { color: false }) })), errors, warnings };
}

export interface OutFile {
  /** Path on the stick, e.g. ignition/config.ign. */
  name: string;
  text: string;
  /** The file name to download it as. */
  download: string;
}

export interface Rendered {
  files: OutFile[];
  /** What the engine cannot express, at its line (warnings, as `drive create` lists them). */
  losses: PageProblem[];
  notes: string[];
  /** Why nothing could be rendered. */
  error?: string;
}

/**
 * The files for ENGINE from a valid config: the config itself with its passwords hashed
 * (what `drive create` puts on a flint stick), or what flint's renderer writes for the
 * engine. The rendered files come from the hashed config, so no plain password is in any.
 */
export function render(engine: Engine, text: string, hash: (plain: string) => string = hashPassword): Rendered {
  const config = hashPasswords(text, hash).text;
  const configFile: OutFile = { name: engine === 'combustion' ? 'combustion/flint/config.yaml' : 'flint/config.yaml', text: config, download: CONFIG_NAME };
  if (engine === 'flint') return { files: [configFile], losses: [], notes: [] };
  if (engine === 'combustion') {
    let network = false;
    try {
      network = needsNetwork(parseDocument(config).toJS());
    } catch {
      network = false;
    }
    const script = combustionScript({ version: flintVersion(), network, config: CONFIG_NAME, arches: ['x86_64', 'aarch64'] });
    return {
      files: [configFile, { name: 'combustion/script', text: script, download: 'script' }],
      losses: [],
      notes: ['flint drive create --for combustion writes this script and the self-contained flint it runs (for x86_64 and aarch64) beside the config: the page cannot make those executables, the command does.'],
    };
  }
  try {
    const r = renderConfigFile(CONFIG_NAME, { target: engine, hash }, config);
    if (r.files.length === 0) return { files: [], losses: [], notes: [], error: 'the config has errors: fix them first' };
    const files = r.files.map((f) => ({ name: f.rel, text: f.text, download: f.rel.split('/').pop() ?? f.rel }));
    return { files: [configFile, ...files], losses: r.losses.map((d) => ({ diagnostic: d, text: formatDiagnostic(d, { color: false }) })), notes: r.notes };
  } catch (e) {
    if (e instanceof RenderError || e instanceof Error) return { files: [], losses: [], notes: [], error: e.message };
    throw e;
  }
}

declare const FLINT_VERSION: string | undefined;
function flintVersion(): string {
  return typeof FLINT_VERSION === 'string' ? FLINT_VERSION : 'dev';
}

const FOR: Record<Engine, string> = { flint: '', combustion: ' --for combustion', ignition: ' --for ignition', 'cloud-init': ' --for cloud-init' };

/** The commands that make the stick from the downloaded config (drive create/write render it themselves). */
export function driveCommands(engine: Engine): string {
  const f = FOR[engine];
  return [
    `# check it, then make an image file to flash with any tool`,
    `flint validate ${CONFIG_NAME}`,
    `flint drive create ${CONFIG_NAME} -o flint-stick.img${f}`,
    `# or write straight to a USB stick or SD card (lists the disks it may write to)`,
    `flint drive write ${CONFIG_NAME} /dev/sdX${f}`,
  ].join('\n');
}

// ---- The config text as a YAML document the form edits ----

/**
 * YAML 1.2 reads `mode: 0644` as the number 644, and the library writes it back as 644,
 * which flint refuses. A mode is therefore kept as the text it was written as, behind
 * this marker, until the document is turned back into text.
 */
const RAW = 'FLINTRAWMODE';
const RAW_RE = new RegExp(`${RAW}_([0-9A-Za-z]+)_`, 'g');

export function rawMode(text: string): string {
  return `${RAW}_${text}_`;
}

/** The text as a document, modes kept as written; undefined when it does not parse. */
export function parseConfigDoc(text: string): Document | undefined {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) return undefined;
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === 'mode' && isScalar(pair.value) && typeof pair.value.value === 'number') {
        const v = pair.value as Scalar;
        const src = v.range ? text.slice(v.range[0], v.range[1]) : String(v.value);
        if (/^[0-9A-Za-z]+$/.test(src)) v.value = rawMode(src);
      }
    },
  });
  return doc;
}

export function docText(doc: Document): string {
  const body = doc.contents === null ? '' : doc.toString({ lineWidth: 0 });
  return body.replace(RAW_RE, '$1');
}

export function newDoc(): Document {
  return new Document({ version: 1 });
}

export type Seg = string | number;

export function getIn(doc: Document, path: readonly Seg[]): unknown {
  const v = doc.getIn(path, true);
  if (v === undefined || v === null) return undefined;
  if (isScalar(v)) return typeof v.value === 'string' ? v.value.replace(RAW_RE, '$1') : v.value;
  return isNode(v) ? v.toJSON() : v;
}

function empty(v: unknown): boolean {
  return v === undefined || v === '' || (Array.isArray(v) && v.length === 0);
}

/**
 * Set PATH to VALUE, or remove it when VALUE is empty (and a map it leaves empty).
 * An unchanged value is left alone, so its quoting and comments stay.
 */
export function put(doc: Document, path: readonly Seg[], value: unknown): void {
  if (empty(value)) {
    if (doc.hasIn(path)) doc.deleteIn(path);
    for (let n = path.length - 1; n > 0; n--) {
      const parent = doc.getIn(path.slice(0, n), true);
      if (isMap(parent) && parent.items.length === 0) doc.deleteIn(path.slice(0, n));
      else break;
    }
    return;
  }
  if (JSON.stringify(getIn(doc, path)) === JSON.stringify(value)) return;
  if (doc.contents === null) doc.contents = doc.createNode({ version: 1 });
  // As nodes, so lists and maps set here are lists and maps to the rest of this module.
  doc.setIn(path, typeof value === 'object' && value !== null ? doc.createNode(value) : value);
}

/** The items of a list in the document (users, files ...), as plain data. */
export function listOf(doc: Document, path: readonly Seg[]): unknown[] {
  const v = doc.getIn(path, true);
  return isSeq(v) ? v.items.map((i) => (isNode(i) ? i.toJSON() : i)) : [];
}

/** The index of the first network connection of TYPE (ethernet when the type is left out), or -1. */
export function connectionIndex(doc: Document, type: 'wifi' | 'ethernet'): number {
  return listOf(doc, ['network', 'connections']).findIndex((c) => {
    const t = (c as { type?: unknown } | null)?.type;
    return type === 'wifi' ? t === 'wifi' : t === 'ethernet' || (t === undefined && (c as { wifi?: unknown } | null)?.wifi === undefined);
  });
}

export function appendItem(doc: Document, path: readonly Seg[], item: Record<string, unknown>): number {
  const n = listOf(doc, path).length;
  if (n === 0) put(doc, path, [item]);
  else doc.addIn(path, doc.createNode(item));
  return n;
}

export function removeItem(doc: Document, path: readonly Seg[], index: number): void {
  doc.deleteIn([...path, index]);
  if (listOf(doc, path).length === 0) put(doc, path, undefined);
}

/** Mode text as the form writes it: digits stay plain, as a person would type them into YAML. */
export function modeValue(text: string): unknown {
  const t = text.trim();
  if (t === '') return undefined;
  return /^(0o)?[0-9]+$/.test(t) ? rawMode(t) : t;
}
