/**
 * The trust policy at first boot: `flint.trust=required|optional|off` on the kernel
 * command line, else `required` when the initramfs carries trust anchors
 * (TRUST_DIR/*.pem, installed by the dracut module from the image's /etc/flint/trust/),
 * else off.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { X509Certificate } from 'node:crypto';
import { parseCertificates, TrustError } from './chain.js';

export const TRUST_DIR = '/etc/flint/trust';

export type TrustPolicy = 'required' | 'optional' | 'off';

/** Every certificate in DIR/*.pem; an unreadable or broken file is an error (a policy must not silently shrink). */
export function loadAnchors(dir: string): X509Certificate[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.pem')).sort();
  } catch {
    return [];
  }
  return names.flatMap((n) => loadAnchorFile(join(dir, n)));
}

export function loadAnchorFile(file: string): X509Certificate[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new TrustError(`${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseCertificates(text, file);
}

/** The policy in force: the command line's, else by whether anchors exist. */
export function effectivePolicy(fromCmdline: TrustPolicy | undefined, anchors: readonly X509Certificate[]): TrustPolicy {
  return fromCmdline ?? (anchors.length > 0 ? 'required' : 'off');
}
