/** Reading `blkid -o export`: one device's tags, or every device's when blkid lists them all. */

/** One device's `blkid -o export` output as a map. */
export function parseBlkidExport(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return out;
}

/** `blkid -c /dev/null -o export` (every device): one block per device, blank lines between, each with DEVNAME. */
export function parseBlkidDevices(text: string): Array<{ node: string; tags: Map<string, string> }> {
  const out: Array<{ node: string; tags: Map<string, string> }> = [];
  for (const block of text.split(/\n\s*\n/)) {
    const tags = parseBlkidExport(block);
    const node = tags.get('DEVNAME');
    if (node !== undefined) out.push({ node, tags });
  }
  return out;
}
