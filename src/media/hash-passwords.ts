/**
 * Plain-text user passwords in a config text replaced by their SHA-512 crypt hashes, in
 * place. Apart from prepare.ts because it needs no file system: the web page (web/)
 * bundles it for the browser.
 */
import { isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { Pair, YAMLMap } from 'yaml';
import { hashPassword } from '../crypt/sha-crypt.js';

/** Every `password:` of a user (top level and `hosts:` entries) as a YAML pair. */
export function plainPasswordNodes(text: string): Pair[] {
  const doc = parseDocument(text, { keepSourceTokens: false });
  const out: Pair[] = [];
  const usersOf = (m: unknown): void => {
    if (!isMap(m)) return;
    const users = (m as YAMLMap).get('users', true);
    if (!isSeq(users)) return;
    for (const u of users.items) {
      if (!isMap(u)) continue;
      for (const p of u.items) if (isScalar(p.key) && p.key.value === 'password') out.push(p);
    }
  };
  usersOf(doc.contents);
  const hosts = isMap(doc.contents) ? doc.contents.get('hosts', true) : undefined;
  if (isSeq(hosts)) for (const h of hosts.items) usersOf(h);
  return out;
}

/**
 * TEXT with each user's `password: PLAIN` turned into `password_hash: "HASH"` in
 * place; comments, quoting and layout elsewhere stay byte for byte.
 */
export function hashPasswords(text: string, hash: (plain: string) => string = hashPassword): { text: string; hashed: number } {
  const edits: Array<{ start: number; end: number; with: string }> = [];
  for (const p of plainPasswordNodes(text)) {
    const key = p.key as { range?: [number, number, number]; type?: string };
    const value = p.value;
    if (!isScalar(value) || typeof value.value !== 'string' || key.range == null || value.range == null) continue;
    const quoted = key.type === 'QUOTE_DOUBLE' ? '"password_hash"' : key.type === 'QUOTE_SINGLE' ? "'password_hash'" : 'password_hash';
    edits.push({ start: key.range[0], end: key.range[1], with: quoted });
    // Double-quoted is valid in YAML and JSON alike, and a crypt hash needs no escapes.
    edits.push({ start: value.range[0], end: value.range[1], with: JSON.stringify(hash(value.value)) });
  }
  edits.sort((a, b) => b.start - a.start);
  let out = text;
  for (const e of edits) out = out.slice(0, e.start) + e.with + out.slice(e.end);
  return { text: out, hashed: edits.length / 2 };
}
