/**
 * cloud-init's write_files as flint files. cloud-init always replaces the file (or
 * appends), and always sets the mode (default 0644) and owner (default root:root), so
 * the flint entries say all three explicitly.
 */
import type { PathSeg } from '../config/diagnostics.js';
import type { File } from '../config/generated/model.js';
import type { SeedFile } from './cloudinit-source.js';

const FILE_KEYS = new Set(['path', 'content', 'encoding', 'permissions', 'owner', 'append', 'defer']);
const BASE64 = new Set(['b64', 'base64']);
const GZIP = new Set(['gz', 'gzip']);
const GZIP_BASE64 = new Set(['gz+base64', 'gzip+base64', 'gz+b64', 'gzip+b64']);
const TEXT = new Set(['text/plain']);

export function convertWriteFiles(ud: SeedFile): File[] {
  const list = ud.list(['write_files']);
  const out: File[] = [];
  list?.forEach((_, i) => {
    const f = convertOne(ud, ['write_files', i]);
    if (f !== undefined) out.push(f);
  });
  return out;
}

function convertOne(ud: SeedFile, path: PathSeg[]): File | undefined {
  if (ud.map(path) === undefined) return undefined;
  const target = ud.str([...path, 'path']);
  if (target === undefined) {
    if (!ud.written([...path, 'path'])) ud.error(path, 'missing-key', 'a write_files entry needs a path', 'add path: /ABSOLUTE/PATH');
    return undefined;
  }
  if (ud.at([...path, 'source']) !== undefined) {
    ud.error([...path, 'source'], 'unsupported-source', 'write_files source: is not converted: flint downloads only with a hash to check the data against', 'give the data as content:, or write a flint files: entry with source: and verify: sha256-…', 'key');
    return undefined;
  }
  const f: File = { path: target };
  const data = contentOf(ud, path);
  if (data === undefined) return undefined;
  Object.assign(f, data);
  f.mode = permissions(ud, [...path, 'permissions']) ?? '0644';
  const [owner, group] = ownerOf(ud, [...path, 'owner']);
  f.owner = owner;
  f.group = group;
  if (ud.bool([...path, 'append']) === true) f.append = true;
  // defer: cloud-init writes the file in its final stage, after packages have created
  // their users. flint writes every file after its users and groups; it has no packages.
  ud.bool([...path, 'defer']);
  ud.rest(path, FILE_KEYS);
  return f;
}

/** content and encoding as flint's contents, or contents_base64 (+ compression). */
function contentOf(ud: SeedFile, path: PathSeg[]): Pick<File, 'contents' | 'contents_base64' | 'compression'> | undefined {
  const encPath = [...path, 'encoding'];
  const enc = (ud.str(encPath) ?? 'text/plain').toLowerCase();
  const raw = ud.at([...path, 'content']);
  // YAML's !!binary gives bytes: already decoded from base64 by the loader.
  if (raw instanceof Uint8Array) {
    const b64 = Buffer.from(raw).toString('base64');
    if (GZIP.has(enc)) return { contents_base64: b64, compression: 'gzip' };
    if (BASE64.has(enc) || GZIP_BASE64.has(enc)) {
      ud.error(encPath, 'encoding', `content is !!binary (bytes) but encoding says ${enc}: cloud-init would fail to decode it`, 'use encoding: gzip for gzip bytes, or drop !!binary and keep the base64 text');
      return undefined;
    }
    return { contents_base64: b64 };
  }
  const content = raw === undefined || raw === null ? '' : ud.str([...path, 'content']);
  if (content === undefined) return undefined;
  if (TEXT.has(enc)) return { contents: content };
  if (BASE64.has(enc) || GZIP_BASE64.has(enc)) {
    const b64 = cleanBase64(ud, [...path, 'content'], content);
    return GZIP_BASE64.has(enc) ? { contents_base64: b64, compression: 'gzip' } : { contents_base64: b64 };
  }
  if (GZIP.has(enc)) {
    ud.error(encPath, 'encoding', 'encoding gzip needs binary content: write content: !!binary | followed by the base64 of the gzip data', 'or use encoding: gz+b64 with the base64 text');
    return undefined;
  }
  ud.error(encPath, 'encoding', `unknown encoding "${enc}"`, 'use one of b64, base64, gzip, gz, gz+b64, gzip+base64 or text/plain');
  return undefined;
}

/**
 * Python's b64decode (as cloud-init calls it) skips characters outside the alphabet,
 * so "abc..." decodes as "abc"; flint keeps only the alphabet and says so.
 */
function cleanBase64(ud: SeedFile, path: PathSeg[], text: string): string {
  const kept = text.replace(/[^A-Za-z0-9+/=]/g, '');
  const dropped = text.replace(/[A-Za-z0-9+/=\s]/g, '');
  if (dropped.length > 0) ud.warn(path, 'base64', `content has ${dropped.length} character(s) outside base64, which cloud-init skips as well; the rest is decoded`);
  const unpadded = kept.replace(/=+$/, '');
  return unpadded + '='.repeat((4 - (unpadded.length % 4)) % 4);
}

/**
 * cloud-init's permissions: a string is octal ('0644', '644'); an integer is taken as it
 * is. PyYAML reads an unquoted 0644 as octal, so the source text decides, not the number.
 */
function permissions(ud: SeedFile, path: PathSeg[]): string | undefined {
  const v = ud.at(path);
  if (v === undefined || v === null) return undefined;
  const src = (ud.sourceText(path) ?? '').trim();
  let bits: number | undefined;
  if (typeof v === 'string') bits = /^(?:0o?)?[0-7]{1,4}$/.test(v.trim()) ? parseInt(v.trim().replace(/^0o/, ''), 8) : undefined;
  else if (typeof v === 'number' && Number.isInteger(v)) bits = /^0[0-7]+$/.test(src) ? parseInt(src, 8) : /^0o[0-7]+$/.test(src) ? parseInt(src.slice(2), 8) : v;
  if (bits === undefined || bits < 0 || bits > 0o7777) {
    ud.error(path, 'mode', 'permissions must be an octal mode such as \'0644\'', "quote it: permissions: '0644'");
    return undefined;
  }
  return '0' + bits.toString(8).padStart(3, '0');
}

/** "user:group" or "user", as cloud-init's extract_usergroup reads it; an empty, -1 or none part is root. */
function ownerOf(ud: SeedFile, path: PathSeg[]): [string, string] {
  const v = ud.str(path);
  if (v === undefined) return ['root', 'root'];
  const colon = v.indexOf(':');
  const part = (s: string): string => {
    const t = s.trim();
    return t === '' || t === '-1' || t.toLowerCase() === 'none' ? 'root' : t;
  };
  return colon < 0 ? [part(v), 'root'] : [part(v.slice(0, colon)), part(v.slice(colon + 1))];
}
