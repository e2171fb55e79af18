/** node:zlib's gzip for the page (Ignition inlines large files gzipped): fflate, pure JavaScript. */
import { gunzipSync as gunzip, gzipSync as gzip } from 'fflate';
import { Buffer } from './buffer.js';

export function gzipSync(data: Uint8Array, o: { level?: number } = {}): Buffer {
  const level = (o.level ?? 6) as 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
  return Buffer.from(gzip(data, { level, mtime: 0 }));
}

export function gunzipSync(data: Uint8Array): Buffer {
  return Buffer.from(gunzip(data));
}

export default { gzipSync, gunzipSync };
