/**
 * What node:crypto's X509Certificate does not expose: the keyUsage bits. Read from the
 * certificate's DER with a minimal reader (tag, length, content), because only one
 * extension is needed and a general ASN.1 library would weigh on the initramfs bundle.
 */

interface Tlv {
  tag: number;
  /** Start and end of the content. */
  start: number;
  end: number;
}

function readTlv(der: Buffer, at: number): Tlv {
  if (at + 2 > der.length) throw new Error('truncated DER');
  const tag = der[at]!;
  let len = der[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > der.length) throw new Error('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    start += n;
  }
  if (start + len > der.length) throw new Error('truncated DER');
  return { tag, start, end: start + len };
}

function children(der: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const t = readTlv(der, at);
    out.push(t);
    at = t.end;
  }
  return out;
}

const OID_KEY_USAGE = Buffer.from([0x55, 0x1d, 0x0f]); // 2.5.29.15

/** The keyUsage bit names flint checks, by bit number (RFC 5280 4.2.1.3). */
export const KEY_USAGE_BITS = { digitalSignature: 0, keyCertSign: 5 } as const;

/**
 * The keyUsage bits of a DER certificate as a set of bit numbers, or undefined when it
 * has no keyUsage extension.
 */
export function keyUsageBits(der: Buffer): Set<number> | undefined {
  const cert = readTlv(der, 0);
  const tbs = children(der, cert)[0];
  if (tbs === undefined) throw new Error('no tbsCertificate');
  // Extensions are the [3] EXPLICIT field at the end of tbsCertificate.
  const ext = children(der, tbs).find((t) => t.tag === 0xa3);
  if (ext === undefined) return undefined;
  const list = children(der, ext)[0];
  if (list === undefined) return undefined;
  for (const e of children(der, list)) {
    const parts = children(der, e);
    const oid = parts[0];
    if (oid === undefined || !der.subarray(oid.start, oid.end).equals(OID_KEY_USAGE)) continue;
    const octets = parts[parts.length - 1]!;
    const bits = readTlv(der, octets.start);
    if (bits.tag !== 0x03) throw new Error('keyUsage is not a BIT STRING');
    const out = new Set<number>();
    // The first content byte counts the unused bits of the last byte.
    for (let i = bits.start + 1; i < bits.end; i++) {
      for (let b = 0; b < 8; b++) if (der[i]! & (0x80 >> b)) out.add((i - bits.start - 1) * 8 + b);
    }
    return out;
  }
  return undefined;
}
