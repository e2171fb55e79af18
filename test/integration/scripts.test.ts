/**
 * `scripts:` through the engine (provision()), chrooted in a copy of a Debian root: the
 * environment a post script sees, the journal around it, what the report keeps, and the
 * policies `flint apply` (post only) and `none` use. Needs root (chroot, mount) and the
 * cached Debian root.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { provision } from '../../src/pipeline/provision.js';
import { ApplyError } from '../../src/engine/apply.js';
import { freshRoot, hasRootfsSupport } from './rootfs.js';

const rootfs = hasRootfsSupport();
const tmp = mkdtempSync(join(tmpdir(), 'flint-scripts-it-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

/** A config folder with flint.yaml and FILES next to it. */
function configDir(yaml: string, files: Record<string, string> = {}): string {
  const d = join(tmp, `config-${++n}`);
  mkdirSync(d);
  writeFileSync(join(d, 'flint.yaml'), yaml);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(d, p, '..'), { recursive: true });
    writeFileSync(join(d, p), text);
  }
  return d;
}

function mountsUnder(p: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(p) === true);
}

describe.skipIf(!rootfs.ok)(`scripts in the engine${rootfs.ok ? '' : ` (SKIPPED: ${rootfs.reason})`}`, () => {
  it('post scripts run chrooted after the other steps, with /proc /sys /dev, cwd the folder copy; pre scripts outside; the report keeps names and exit codes', async () => {
    const preMark = join(tmp, `pre-ran-${n}`);
    const dir = configDir(
      `version: 1
files:
  - path: /etc/flint-step-file
    contents: "from the files step\\n"
scripts:
  - name: early
    stage: pre
    contents: |
      #!/bin/sh
      echo pre > ${preMark}
  - name: env
    contents: |
      set -eu
      test -r /proc/self/status
      test -d /sys/class
      test -c /dev/null
      test -f /etc/flint-step-file
      pwd > /root/script-cwd
      cat payload.txt > /root/payload-copy
      echo "secret-output-not-in-report"
  - name: from-file
    source: file:extra/run.sh
`,
      { 'payload.txt': 'next to the config\n', 'extra/run.sh': '#!/bin/sh\nset -e\ncat sibling > /root/from-file\n', 'extra/sibling': 'sibling of run.sh\n' },
    );
    const root = await freshRoot();
    const lines: string[] = [];
    try {
      const r = await provision({ root: root.dir, configFile: join(dir, 'flint.yaml'), apply: true, scripts: 'all', work: join(tmp, `work-${n}`), log: (l) => lines.push(l) });
      expect(r.ok, lines.join('\n')).toBe(true);
      expect(readFileSync(preMark, 'utf8')).toBe('pre\n');
      expect(readFileSync(join(root.dir, 'root/script-cwd'), 'utf8')).toBe('/run/flint/scripts/1-env\n');
      expect(readFileSync(join(root.dir, 'root/payload-copy'), 'utf8')).toBe('next to the config\n');
      expect(readFileSync(join(root.dir, 'root/from-file'), 'utf8')).toBe('sibling of run.sh\n');
      expect(lines.join('\n')).toContain('[env] secret-output-not-in-report');
      if (!r.ok) return;
      expect(r.report?.scripts).toEqual([
        { name: 'early', stage: 'pre', exit_code: 0 },
        { name: 'env', stage: 'post', exit_code: 0 },
        { name: 'from-file', stage: 'post', exit_code: 0 },
      ]);
      expect(readFileSync(join(root.dir, 'var/log/flint/result.json'), 'utf8')).not.toContain('secret-output-not-in-report');
      expect(mountsUnder(root.dir)).toEqual([]);
      // Nothing of the chroot's plumbing is left in the target.
      expect(existsSync(join(root.dir, 'run/flint'))).toBe(false);
    } finally {
      await root.cleanup();
    }
  }, 300_000);

  it("a failing post script rolls back flint's own changes and unmounts everything", async () => {
    const dir = configDir(`version: 1
files:
  - path: /etc/motd
    contents: "changed by flint\\n"
scripts:
  - name: breaks
    contents: |
      #!/bin/sh
      grep -q "changed by flint" /etc/motd || exit 9
      exit 3
`);
    const root = await freshRoot();
    try {
      const before = readFileSync(join(root.dir, 'etc/motd'));
      const err = await provision({ root: root.dir, configFile: join(dir, 'flint.yaml'), apply: true, work: join(tmp, `work-${n}`), log: () => undefined }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApplyError);
      expect((err as ApplyError).step).toBe('scripts');
      expect((err as Error).message).toBe('script "breaks" (post) exited with status 3');
      expect(readFileSync(join(root.dir, 'etc/motd'))).toEqual(before);
      expect(existsSync(join(root.dir, 'var/lib/flint/journal'))).toBe(false);
      expect(existsSync(join(root.dir, 'var/log/flint/result.json'))).toBe(false);
      expect(mountsUnder(root.dir)).toEqual([]);
    } finally {
      await root.cleanup();
    }
  }, 300_000);

  it('the default policy (flint apply) runs post scripts only; none runs nothing; both say so', async () => {
    const preMark = join(tmp, `pre-never-${n}`);
    const dir = configDir(`version: 1
scripts:
  - name: early
    stage: pre
    contents: "touch ${preMark}\\n"
  - name: late
    contents: "touch /root/late-ran\\n"
`);
    const root = await freshRoot();
    try {
      const r = await provision({ root: root.dir, configFile: join(dir, 'flint.yaml'), apply: true, log: () => undefined });
      expect(r.ok).toBe(true);
      expect(existsSync(preMark)).toBe(false);
      expect(existsSync(join(root.dir, 'root/late-ran'))).toBe(true);
      if (r.ok) expect(r.plan.warnings).toContain('script "early" not run: pre scripts run only in the initramfs (flint run)');
      rmSync(join(root.dir, 'root/late-ran'));
      const none = await provision({ root: root.dir, configFile: join(dir, 'flint.yaml'), apply: true, scripts: 'none', log: () => undefined });
      expect(existsSync(join(root.dir, 'root/late-ran'))).toBe(false);
      if (none.ok) expect(none.plan.warnings).toContain('script "late" not run: scripts are off for this run');
    } finally {
      await root.cleanup();
    }
  }, 300_000);
});
