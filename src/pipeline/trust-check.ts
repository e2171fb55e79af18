/**
 * The signature check of `flint run`: after discovery, before validation. The policy is
 * flint.trust= on the kernel command line, else `required` when the initramfs carries
 * trust anchors (--trust-dir, default /etc/flint/trust), else off (src/trust/policy.ts).
 */
import { TrustError } from '../trust/chain.js';
import type { Signer } from '../trust/chain.js';
import { UnsignedError, verifyConfig } from '../trust/manifest.js';
import { effectivePolicy, loadAnchors } from '../trust/policy.js';
import type { TrustPolicy } from '../trust/policy.js';
import type { BootOptions } from '../discover/cmdline.js';

export type TrustOutcome =
  | { ok: true; policy: TrustPolicy; signer?: Signer & { signed_at: string } }
  | { ok: false; policy: TrustPolicy; reason: string };

export async function checkTrust(configFile: string, boot: BootOptions, trustDir: string, log: (line: string) => void, now?: Date): Promise<TrustOutcome> {
  let anchors;
  try {
    anchors = loadAnchors(trustDir);
  } catch (e) {
    if (!(e instanceof TrustError)) throw e;
    // A broken anchor must not turn the check off: refuse, whatever the policy.
    return { ok: false, policy: boot.trust ?? 'required', reason: e.message };
  }
  const policy = effectivePolicy(boot.trust, anchors);
  if (policy === 'off') {
    log(`signature check off (${boot.trust === 'off' ? 'flint.trust=off' : `no trusted certificates in ${trustDir}`})`);
    return { ok: true, policy };
  }
  if (anchors.length === 0) return { ok: false, policy, reason: `flint.trust=${policy} but there is no trusted certificate in ${trustDir}` };
  try {
    const v = await verifyConfig(configFile, { anchors, ...(now !== undefined ? { now } : {}) });
    log(`config signed by "${v.signer.name}" (SHA256 ${v.signer.fingerprint}) at ${v.signedAt}; the chain reaches ${v.signer.anchor}; ${v.payloads.length} payload(s) checked`);
    return { ok: true, policy, signer: { ...v.signer, signed_at: v.signedAt } };
  } catch (e) {
    if (!(e instanceof TrustError)) throw e;
    if (e instanceof UnsignedError && policy === 'optional') {
      log(`${e.message}; flint.trust=optional: applying it unsigned`);
      return { ok: true, policy };
    }
    // Under optional too: a signature that is present but does not hold is an attack or an accident, never applied.
    return { ok: false, policy, reason: e.message };
  }
}
