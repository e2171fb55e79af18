/** Checks of a payload's `source` URL and its `verify` digest (files, CA certificates). */
import type { PathSeg } from '../diagnostics.js';

export interface ErrorSink {
  error(path: PathSeg[], code: string, message: string, hint?: string, at?: 'key' | 'value'): void;
}

export function checkSource(at: PathSeg[], source: string, hasVerify: boolean, r: ErrorSink): void {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(source)?.[1]?.toLowerCase();
  if (scheme === 'data') {
    if (!/^data:[^,]*,/.test(source)) r.error(at, 'source', 'a data: URL needs a comma before its data', 'write data:,TEXT or data:;base64,BASE64');
    return;
  }
  if (scheme === 'file') {
    const rel = source.slice('file:'.length);
    if (rel.startsWith('/') || rel === '' || rel.split('/').includes('..')) {
      r.error(at, 'source', 'a file: source is a path relative to the config\'s folder on the medium, without "..", e.g. file:payload/motd');
    }
    return;
  }
  if (scheme === 'https') {
    if (!hasVerify) r.error(at, 'source-verify', 'an https source needs verify:, so a changed or tampered download is refused', 'add verify: sha256-<64 hex digits> (`sha256sum FILE`)');
    return;
  }
  if (scheme === 'http') {
    r.error(at, 'source', 'plain http is not accepted: anyone on the network could change the file', 'use https:// together with verify:');
    return;
  }
  r.error(at, 'source', scheme === undefined ? 'a source is a URL: data:, file: or https:' : `unsupported source scheme "${scheme}:"`, 'use data:, file: (a path on the medium) or https:// with verify:');
}

export function checkVerify(at: PathSeg[], verify: unknown, r: ErrorSink): void {
  if (typeof verify === 'string' && !/^(sha256-[0-9a-f]{64}|sha512-[0-9a-f]{128})$/.test(verify)) {
    r.error(at, 'verify', 'verify is sha256-HEX (64 hex digits) or sha512-HEX (128 hex digits), in lower case', 'compute it with `sha256sum FILE` and write sha256-<the digits>');
  }
}
