/** `verify:` of payload bytes, the one check for every step that takes them. */
import type { Verdict } from '../../config/checks/problem.js';
import { nodeCrypto } from '../../system/lazy-builtins.js';

/**
 * Whether DATA matches a `verify:` value (sha256-HEX or sha512-HEX), for every step that
 * takes payload bytes (files, CA certificates): undefined when it does, else the problem
 * (without its place) naming WHAT and the digest it has.
 */
export function verifyMismatch(data: Buffer, verify: string, what: string): Verdict | undefined {
  const m = /^(sha256|sha512)-([0-9a-fA-F]+)$/.exec(verify);
  if (!m) return { message: 'verify is sha256-HEX or sha512-HEX' };
  const actual = nodeCrypto().createHash(m[1]!).update(data).digest('hex');
  if (actual === m[2]!.toLowerCase()) return undefined;
  return { message: `${what} does not match verify: its ${m[1]} is ${actual}`, hint: 'check that the source is the intended file; if it changed on purpose, update verify' };
}
