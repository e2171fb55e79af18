/**
 * The system and files steps on copies of a real Debian root. Hostname, timezone,
 * locale and keymap must come out byte for byte as the target's systemd-firstboot
 * writes them given the same values; files of every source kind land with their
 * owners; a second apply changes nothing.
 */
import { stepContext } from '../helpers/step-context.js';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateText } from '../../src/config/validate.js';
import { applyPlanned } from '../../src/engine/apply.js';
import { planSteps } from '../../src/engine/plan.js';
import type { Plan } from '../../src/engine/plan.js';
import type { StepContext } from '../../src/engine/step.js';
import { filesStep } from '../../src/steps/files/step.js';
import { kernelArgsStep } from '../../src/steps/kernel-args/step.js';
import { resolveSources } from '../../src/steps/payloads.js';
import { systemStep } from '../../src/steps/system/step.js';
import { usersStep } from '../../src/steps/users/step.js';
import { makePki } from '../helpers/pki.js';
import type { Pki } from '../helpers/pki.js';
import { freshRoot, hasRootfsSupport, inChroot } from './rootfs.js';
import type { FreshRoot } from './rootfs.js';

const support = hasRootfsSupport();
const firstboot = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v systemd-firstboot'], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
})();
const skip = !support.ok || firstboot === '';
const why = !support.ok ? support.reason : 'systemd-firstboot not installed';

const VALUES = { timezone: 'Europe/Berlin', hostname: 'pi-kitchen', locale: 'en_US.UTF-8', keymap: 'de-nodeadkeys' };
/** What systemd-firstboot writes only where nothing is yet: removed from both copies. */
const FIRSTBOOT_FILES = ['etc/localtime', 'etc/hostname', 'etc/locale.conf', 'etc/default/locale', 'etc/vconsole.conf'];
const HTTPS_BODY = 'downloaded at first boot\n';
const sha256 = (b: Buffer | string) => `sha256-${createHash('sha256').update(b).digest('hex')}`;

describe.skipIf(skip)(`system settings and files on a Debian root${skip ? ` (SKIPPED: ${why})` : ''}`, () => {
  let mine: FreshRoot;
  let theirs: FreshRoot;
  let medium: string;
  let pki: Pki;
  let server: Server;
  let ctx: StepContext;
  let first: Plan;
  const steps = [usersStep, systemStep, filesStep, kernelArgsStep];

  beforeAll(async () => {
    [mine, theirs] = await Promise.all([freshRoot(), freshRoot()]);
    for (const r of [mine, theirs]) for (const f of FIRSTBOOT_FILES) rmSync(join(r.dir, f), { force: true });
    execFileSync(firstboot, [`--root=${theirs.dir}`, `--timezone=${VALUES.timezone}`, `--hostname=${VALUES.hostname}`, `--locale=${VALUES.locale}`, `--keymap=${VALUES.keymap}`], { stdio: 'pipe' });

    pki = makePki();
    server = createServer({ key: pki.keyPem, cert: pki.certPem }, (_req, res) => res.end(gzipSync(HTTPS_BODY)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://localhost:${(server.address() as AddressInfo).port}/banner.gz`;

    medium = mkdtempSync(join(tmpdir(), 'flint-medium-'));
    mkdirSync(join(medium, 'payload'));
    writeFileSync(join(medium, 'payload/motd'), 'Welcome to pi-kitchen\n');
    const yaml = `version: 1
hostname: ${VALUES.hostname}
timezone: ${VALUES.timezone}
locale: ${VALUES.locale}
keymap: ${VALUES.keymap}
users:
  - name: admin
    shell: /bin/bash
files:
  - {path: /etc/motd, source: "file:payload/motd", verify: ${sha256('Welcome to pi-kitchen\n')}}
  - {path: /etc/flint/text, contents: "plain text\\n", mode: 0600}
  - {path: /etc/flint/b64, contents_base64: "${gzipSync('base64 gzip\n').toString('base64')}", compression: gzip}
  - {path: /etc/flint/data, source: "data:,data%20url%0A"}
  - {path: /etc/flint/https, source: "${url}", compression: gzip, verify: ${sha256(HTTPS_BODY)}}
  - {path: /etc/issue, contents: "flint was here\\n", append: true}
  - {path: /home/admin/.config/app/app.conf, contents: "x = 1\\n", owner: admin, group: admin}
directories:
  - {path: /srv/web, mode: 0750, owner: admin, group: www-data}
links:
  - {path: /usr/local/bin/vi, target: /usr/bin/vim}
  - {path: /etc/flint/text.hard, target: /etc/flint/text, hard: true}
kernel_arguments:
  add: ["console=ttyS0,115200"]
`;
    writeFileSync(join(medium, 'config.yaml'), yaml);
    const v = validateText(join(medium, 'config.yaml'), yaml);
    expect(v.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    ctx = stepContext(mine.dir, v.config!, { configDir: medium, today: 20_000 });
    const resolved = await resolveSources(ctx.config, medium, { ca: pki.caPem });
    expect(resolved.problems).toEqual([]);
    ctx.payloads = resolved.payloads;
    first = planSteps(ctx, steps);
    expect(first.problems).toEqual([]);
    applyPlanned(ctx.root, first.planned);
  }, 900_000);

  afterAll(async () => {
    server?.closeAllConnections();
    server?.close();
    await Promise.all([mine?.cleanup(), theirs?.cleanup()]);
    if (medium) rmSync(medium, { recursive: true, force: true });
  });

  it('points /etc/localtime where systemd-firstboot does', async () => {
    const a = await inChroot(mine.dir, ['readlink', '/etc/localtime']);
    const b = await inChroot(theirs.dir, ['readlink', '/etc/localtime']);
    expect(a.stdout).toBe('../usr/share/zoneinfo/Europe/Berlin\n');
    expect(a.stdout).toBe(b.stdout);
    expect((await inChroot(mine.dir, ['date', '+%Z'])).stdout).toMatch(/^CES?T\n$/);
    // Debian's own record of the zone, kept in step because the image has it.
    expect(readFileSync(join(mine.dir, 'etc/timezone'), 'utf8')).toBe('Europe/Berlin\n');
  });

  it('writes hostname, locale and keymap byte for byte as systemd-firstboot does', () => {
    // Debian's systemd writes the locale to /etc/default/locale, not /etc/locale.conf.
    for (const f of ['etc/hostname', 'etc/default/locale', 'etc/vconsole.conf']) {
      const a = lstatSync(join(mine.dir, f));
      const b = lstatSync(join(theirs.dir, f));
      expect(readFileSync(join(mine.dir, f)), f).toEqual(readFileSync(join(theirs.dir, f)));
      expect([a.mode & 0o7777, a.uid, a.gid], f).toEqual([b.mode & 0o7777, b.uid, b.gid]);
    }
    for (const r of [mine, theirs]) expect(lstatSync(join(r.dir, 'etc/locale.conf'), { throwIfNoEntry: false })).toBeUndefined();
    expect(readFileSync(join(mine.dir, 'etc/hosts'), 'utf8')).toMatch(/^127\.0\.0\.1\tlocalhost\n127\.0\.1\.1\tpi-kitchen\n/);
  });

  it('writes files from every source kind, with their owners', async () => {
    const read = (p: string) => readFileSync(join(mine.dir, p), 'utf8');
    expect(read('etc/motd')).toBe('Welcome to pi-kitchen\n');
    expect(read('etc/flint/text')).toBe('plain text\n');
    expect(read('etc/flint/b64')).toBe('base64 gzip\n');
    expect(read('etc/flint/data')).toBe('data url\n');
    expect(read('etc/flint/https')).toBe(HTTPS_BODY);
    expect(read('etc/issue')).toMatch(/^Debian GNU\/Linux 12 \\n \\l\n\nflint was here\n$/);
    const stat = async (p: string) => (await inChroot(mine.dir, ['stat', '-c', '%U:%G %a %h', p])).stdout.trim();
    expect(await stat('/etc/flint/text')).toBe('root:root 600 2');
    expect(await stat('/home/admin/.config')).toBe('admin:admin 755 3');
    expect(await stat('/home/admin/.config/app/app.conf')).toBe('admin:admin 644 1');
    expect(await stat('/srv/web')).toBe('admin:www-data 750 2');
    expect((await inChroot(mine.dir, ['readlink', '/usr/local/bin/vi'])).stdout).toBe('/usr/bin/vim\n');
  });

  it('warns that a Debian root without a boot loader gets no kernel arguments', () => {
    expect(first.warnings).toContain('kernel_arguments were not applied: the target has no /etc/default/grub, /etc/kernel/cmdline, boot loader entries (/boot/loader/entries) or Raspberry Pi cmdline.txt');
  });

  it('changes nothing on a second apply', () => {
    const again = planSteps(ctx, steps);
    expect(again.problems).toEqual([]);
    expect(again.planned.map((p) => `${p.action.path}: ${p.details.join('; ')}`)).toEqual([]);
  });
});
