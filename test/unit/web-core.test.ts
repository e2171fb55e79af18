/** web/core.ts in node: the form's edits keep the text's modes and comments; the page's messages are the CLI's. */
import { describe, expect, it } from 'vitest';
import { check, docText, modeValue, parseConfigDoc, put, render } from '../../web/core.js';
import { verifyPassword } from '../../src/crypt/sha-crypt.js';

const TEXT = `# kept
version: 1
hostname: a # also kept
files:
  - path: /etc/motd
    mode: 0644
    contents: hi
`;

describe('the page core', () => {
  it('edits the text in place: a mode stays as written, comments stay', () => {
    const doc = parseConfigDoc(TEXT)!;
    put(doc, ['hostname'], 'b');
    put(doc, ['files', 0, 'mode'], modeValue('0600'));
    const out = docText(doc);
    expect(out).toContain('# kept');
    expect(out).toContain('hostname: b # also kept');
    expect(out).toContain('    mode: 0600\n');
    put(doc, ['files', 0, 'mode'], modeValue('644'));
    expect(check(docText(doc)).problems.map((p) => p.diagnostic.message)).toEqual(['mode 644 has no leading 0, so it is not octal']);
  });

  it('removes a key and the map it leaves empty', () => {
    const doc = parseConfigDoc('version: 1\nssh:\n  host_keys: generate\n')!;
    put(doc, ['ssh', 'host_keys'], undefined);
    expect(docText(doc)).toBe('version: 1\n');
  });

  it('hashes plain passwords before rendering, for every engine', () => {
    const text = 'version: 1\nusers:\n  - name: pi\n    password: "s3cret-pw"\n';
    for (const engine of ['flint', 'ignition', 'cloud-init', 'combustion'] as const) {
      const r = render(engine, text);
      expect(r.error).toBeUndefined();
      for (const f of r.files) expect(f.text).not.toContain('s3cret-pw');
      const hash = /\$6\$[^"\s]+/.exec(r.files[0]!.text)![0];
      expect(verifyPassword('s3cret-pw', hash)).toBe(true);
    }
  });
});
