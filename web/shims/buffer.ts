/**
 * node:buffer for the page: the `buffer` package (feross), plus the 'base64url'
 * encoding it lacks and the SSH key checks use (JWK coordinates).
 */
import { Buffer as PolyBuffer } from 'buffer';

type Enc = string | undefined;
const toB64 = (s: string): string => s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4);

const proto = PolyBuffer.prototype as unknown as { toString(enc?: Enc, start?: number, end?: number): string };
const toString = proto.toString;
proto.toString = function (this: unknown, enc?: Enc, start?: number, end?: number): string {
  if (enc === 'base64url') return toString.call(this, 'base64', start, end).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return toString.call(this, enc, start, end);
};
const from = PolyBuffer.from.bind(PolyBuffer) as (value: unknown, enc?: unknown, len?: unknown) => PolyBuffer;
(PolyBuffer as unknown as { from: typeof from }).from = (value: unknown, enc?: unknown, len?: unknown): PolyBuffer => (typeof value === 'string' && enc === 'base64url' ? from(toB64(value), 'base64') : from(value, enc, len));
const byteLength = PolyBuffer.byteLength.bind(PolyBuffer) as (value: unknown, enc?: unknown) => number;
(PolyBuffer as unknown as { byteLength: typeof byteLength }).byteLength = (value: unknown, enc?: unknown): number => (typeof value === 'string' && enc === 'base64url' ? byteLength(toB64(value), 'base64') : byteLength(value, enc));

export const Buffer = PolyBuffer;
export default { Buffer };
