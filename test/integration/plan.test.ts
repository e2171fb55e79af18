/** flint plan on a Debian root: what it shows, what it hides, and that it writes nothing. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshRoot, hasRootfsSupport } from './rootfs.js';

const support = hasRootfsSupport();
const BIN = new URL('../../dist/flint.mjs', import.meta.url).pathname;
const PLAIN = 'Plain-Text-Password-42';

function digestTree(root: string): string {
  const h = createHash('sha256');
  const walk = (rel: string) => {
    const st = lstatSync(join(root, rel), { throwIfNoEntry: false });
    if (!st) return;
    h.update(`${rel} ${st.mode} ${st.uid} ${st.gid} ${st.mtimeMs}\n`);
    if (st.isFile()) h.update(readFileSync(join(root, rel)));
    if (st.isDirectory()) for (const n of readdirSync(join(root, rel)).sort()) walk(`${rel}/${n}`);
  };
  for (const p of ['etc', 'home', 'root', 'var']) walk(p);
  return h.digest('hex');
}

describe.skipIf(!support.ok)(`flint plan${support.ok ? '' : ` (SKIPPED: ${support.reason})`}`, () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let work: string;
  beforeAll(async () => {
    ({ dir, cleanup } = await freshRoot());
    work = mkdtempSync(join(tmpdir(), 'flint-plan-'));
  }, 900_000);
  afterAll(async () => {
    await cleanup?.();
    rmSync(work, { recursive: true, force: true });
  });

  it('shows a diff for text files, hides secrets, and writes nothing', () => {
    const cfg = join(work, 'c.yaml');
    writeFileSync(cfg, `version: 1\nusers:\n  - name: admin\n    password: "${PLAIN}"\n    sudo: nopasswd\n`);
    const before = digestTree(dir);
    const r = spawnSync(process.execPath, [BIN, 'plan', '--root', dir, cfg], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/~ change {2}\/etc\/passwd/);
    expect(r.stdout).toContain('+admin:x:1000:1000::/home/admin:/bin/sh');
    expect(r.stdout).toMatch(/~ change {2}\/etc\/shadow[^\n]*\n\s+content \(secret, not shown\)/);
    expect(r.stdout).toMatch(/\+ create {2}\/home\/admin /);
    expect(r.stdout).toMatch(/\d+ to create, \d+ to change, \d+ unchanged/);
    const json = spawnSync(process.execPath, [BIN, 'plan', '--json', '--root', dir, cfg], { encoding: 'utf8' });
    expect(JSON.parse(json.stdout).ok).toBe(true);
    for (const s of [r.stdout, r.stderr, json.stdout, json.stderr]) {
      expect(s).not.toContain(PLAIN);
      expect(s).not.toMatch(/\$6\$/);
    }
    expect(digestTree(dir)).toBe(before);
  });

  it('refuses a config that does not fit the target, at its line, and writes nothing', () => {
    const cfg = join(work, 'zsh.yaml');
    writeFileSync(cfg, 'version: 1\nusers:\n  - name: admin\n    shell: /bin/zsh\n    groups: [nosuchgroup]\n');
    const before = digestTree(dir);
    const r = spawnSync(process.execPath, [BIN, 'apply', '--root', dir, cfg], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${cfg}:4:12: error: the shell /bin/zsh does not exist in the target`);
    expect(r.stderr).toMatch(/nosuchgroup/);
    expect(r.stdout).toContain('nothing was written');
    expect(digestTree(dir)).toBe(before);
  });

  it('refuses storage on a target root that is only a folder of this machine, writing nothing', () => {
    const cfg = join(work, 'storage.yaml');
    writeFileSync(cfg, 'version: 1\nhostname: box\nstorage:\n  grow_root: true\n');
    const before = digestTree(dir);
    const r = spawnSync(process.execPath, [BIN, 'apply', '--root', dir, cfg], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${cfg}:3:1: error: the target root ${dir} is a folder of this system's own root filesystem`);
    expect(digestTree(dir)).toBe(before);
  });
});
