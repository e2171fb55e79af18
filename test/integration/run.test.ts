/**
 * `flint run` end to end: the bundled executable with an injected kernel command line,
 * fw_cfg tree and real loop devices carrying a labelled vfat filesystem. Needs root
 * (losetup, mount), dosfstools, mtools and e2fsprogs; the Debian root case also
 * debootstrap. Media are vfat where the kernel can mount vfat, else ext4.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { makePki } from '../helpers/pki.js';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lockMediaForThisFile } from '../helpers/media-lock.js';
import { scanDevices } from '../../src/discover/sources.js';
import { dropWizardMarker, WIZARD_MARKER, writeBack } from '../../src/pipeline/first-boot.js';
import type { Report } from '../../src/engine/report.js';
import { freshRoot, hasRootfsSupport } from './rootfs.js';
import { BIN, hasTool, hostEnv, loopSupport, scratch } from '../helpers/host.js';
import type { Support } from '../helpers/host.js';

function support(): Support {
  return loopSupport([['blkid', 'util-linux'], ['mkfs.vfat', 'dosfstools'], ['mcopy', 'mtools'], ['mmd', 'mtools'], ['mkfs.ext4', 'e2fsprogs']]);
}

const can = support();
const rootfs = hasRootfsSupport();
const { dir } = scratch('flint-run-');
const env = hostEnv;

// Discovery scans every block device: no other test file's media may be attached meanwhile.
lockMediaForThisFile();

/**
 * The filesystem of the test media: vfat where this kernel can mount it; else ext4 (a
 * container's host kernel may lack vfat), which flint must read as well.
 */
const FS = readFileSync('/proc/filesystems', 'utf8').split('\n').some((l) => l.trim() === 'vfat') ? 'vfat' : 'ext4';

/** A medium image labelled LABEL with FILES (path on the medium -> content), built without mounting. */
function mediumImage(label: string, files: Record<string, string>): string {
  return FS === 'vfat' ? vfatImage(label, files) : ext4Image(label, files);
}

function ext4Image(label: string, files: Record<string, string>): string {
  const d = dir('img');
  const content = join(d, 'content');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(content, path, '..'), { recursive: true });
    writeFileSync(join(content, path), text);
  }
  mkdirSync(content, { recursive: true });
  const img = join(d, 'medium.img');
  execFileSync('truncate', ['-s', '8M', img]);
  execFileSync('mkfs.ext4', ['-q', '-L', label, '-d', content, img], { env, stdio: 'ignore' });
  return img;
}

/** A vfat image, built with mtools. */
function vfatImage(label: string, files: Record<string, string>): string {
  const img = join(dir('img'), 'medium.img');
  execFileSync('truncate', ['-s', '8M', img]);
  execFileSync('mkfs.vfat', ['-n', label, img], { env, stdio: 'ignore' });
  const made = new Set<string>();
  for (const [path, content] of Object.entries(files)) {
    const parts = path.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const folder = parts.slice(0, i).join('/');
      if (made.has(folder)) continue;
      made.add(folder);
      execFileSync('mmd', ['-i', img, `::/${folder}`], { env });
    }
    const src = join(dir('src'), 'file');
    writeFileSync(src, content);
    execFileSync('mcopy', ['-i', img, src, `::/${path}`], { env });
  }
  return img;
}

/** Attaches IMG to a loop device for FN and always detaches it. */
async function withLoop<T>(img: string, fn: (dev: string) => Promise<T> | T): Promise<T> {
  const dev = execFileSync('losetup', ['-f', '--show', img], { encoding: 'utf8', env }).trim();
  try {
    return await fn(dev);
  } finally {
    spawnSync('losetup', ['-d', dev], { env });
  }
}

function attached(img: string): boolean {
  return execFileSync('losetup', ['-j', img], { encoding: 'utf8', env }).trim() !== '';
}

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function flintRun(opts: { sysroot: string; cmdline: string; fwCfg?: string; work?: string; json?: boolean; env?: Record<string, string> }): Run {
  const cmdline = join(dir('cmdline'), 'cmdline');
  writeFileSync(cmdline, opts.cmdline + '\n');
  const args = [BIN, 'run', '--sysroot', opts.sysroot, '--cmdline', cmdline, '--fw-cfg', opts.fwCfg ?? dir('fwcfg-empty'), '--work', opts.work ?? dir('work')];
  if (opts.json) args.push('--json');
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...env, ...opts.env }, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** flint run in a child that the test's own event loop keeps serving (the https test). */
function flintRunAsync(opts: { sysroot: string; cmdline: string }, runEnv: NodeJS.ProcessEnv): Promise<Run> {
  const cmdline = join(dir('cmdline'), 'cmdline');
  writeFileSync(cmdline, opts.cmdline + '\n');
  const child = spawn(process.execPath, [BIN, 'run', '--sysroot', opts.sysroot, '--cmdline', cmdline, '--fw-cfg', dir('fwcfg-empty'), '--work', dir('work')], { env: runEnv });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

function mountedUnder(path: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[4]?.startsWith(path) === true);
}

/** A file on a medium image, read without mounting it. */
function readMedium(img: string, path: string): string {
  if (FS === 'vfat') return execFileSync('mtype', ['-i', img, `::/${path}`], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'ignore'] });
  const out = join(dir('read'), 'file');
  execFileSync('debugfs', ['-R', `dump /${path} ${out}`, img], { env, stdio: 'ignore' });
  return readFileSync(out, 'utf8');
}

/** A minimal target: just enough for the files step. */
function emptyRoot(machineId?: string): string {
  const root = dir('root');
  mkdirSync(join(root, 'etc'));
  if (machineId !== undefined) writeFileSync(join(root, 'etc/machine-id'), machineId);
  return root;
}

/** Every path under ROOT, sorted. */
function tree(root: string): string[] {
  return (readdirSync(root, { recursive: true }) as string[]).sort();
}

const USER_CONFIG = `version: 1
users:
  - name: alice
    shell: /bin/bash
    ssh_authorized_keys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA2W4ylBpNwsCJJgCIJv6S+GBdb8LJg1OwHVwgsBw43P admin@laptop
`;
const MOTD_CONFIG = `version: 1
files:
  - path: /etc/motd
    mode: "0644"
    contents: "from flint\\n"
`;

describe.skipIf(!can.ok)(`flint run${can.ok ? '' : ` (SKIPPED: ${can.reason})`}`, () => {
  // ssh-keygen (openssh-client) is not in Debian 12's base system.
  const noRoot = !rootfs.ok ? rootfs.reason : !hasTool('ssh-keygen') ? 'ssh-keygen not installed: apt-get install openssh-client' : undefined;
  it.skipIf(noRoot !== undefined)(`applies flint/config.yaml from a medium labelled FLINT to a Debian root${noRoot === undefined ? '' : ` (SKIPPED: ${noRoot})`}`, async () => {
    const img = mediumImage('FLINT', { 'flint/config.yaml': USER_CONFIG });
    const root = await freshRoot();
    try {
      expect(readFileSync(join(root.dir, 'etc/machine-id'), 'utf8').trim()).toBe('');
      // A host key as the image (or sshd's first start) would have it, for the summary.
      const pub = join(root.dir, 'etc/ssh/ssh_host_ed25519_key.pub');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', pub.replace(/\.pub$/, '')], { env });
      const work = dir('work');
      const r = await withLoop(img, (dev) => {
        const res = flintRun({ sysroot: root.dir, cmdline: 'quiet flint.timeout=5', work });
        expect(res.err).toContain(`flint/config.yaml on ${dev} (label FLINT, ${FS})`);
        return res;
      });
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/applied \d+ changes? to /);
      expect(readFileSync(join(root.dir, 'etc/passwd'), 'utf8')).toMatch(/^alice:x:\d+:\d+:/m);
      expect(existsSync(join(root.dir, 'var/log/flint/result.json'))).toBe(true);
      // The summary: users and the target's host key fingerprints, as ssh-keygen -l shows them.
      expect(r.out).toContain('  users: alice');
      expect(r.out).toContain(`host key ${execFileSync('ssh-keygen', ['-lf', pub], { encoding: 'utf8', env }).split(' ')[1]} (ssh-ed25519)`);
      expect(existsSync(join(work, 'config/config.yaml'))).toBe(true);
      expect(mountedUnder(work)).toEqual([]);
      expect(attached(img)).toBe(false);
    } finally {
      await root.cleanup();
    }
  }, 300_000);

  it('compares labels case-insensitively and writes into a minimal root', async () => {
    const img = mediumImage('flint', { 'flint/config.yml': MOTD_CONFIG });
    const root = emptyRoot('uninitialized\n');
    const work = dir('work');
    const r = await withLoop(img, () => flintRun({ sysroot: root, cmdline: 'flint.timeout=5', work }));
    expect(r.code, r.err).toBe(0);
    expect(readFileSync(join(root, 'etc/motd'), 'utf8')).toBe('from flint\n');
    expect(mountedUnder(work)).toEqual([]);
    // The result, written back next to the config.
    expect(readMedium(img, 'flint/RESULT.txt')).toContain('applied 1 change to');
    expect(JSON.parse(readMedium(img, 'flint/result.json'))).toMatchObject({ changes: [{ path: '/etc/motd', change: 'create' }] });
    // flint.report=0: nothing written back.
    const img2 = mediumImage('flint', { 'flint/config.yml': MOTD_CONFIG });
    const r2 = await withLoop(img2, () => flintRun({ sysroot: emptyRoot(), cmdline: 'flint.timeout=5 flint.report=0' }));
    expect(r2.code, r2.err).toBe(0);
    expect(() => readMedium(img2, 'flint/RESULT.txt')).toThrow();
  });

  it('reads LABEL=NAME:/path from the kernel command line, copying that folder', async () => {
    const label = `C${process.pid % 100000}`;
    const img = mediumImage(label, { 'site/a.yaml': MOTD_CONFIG, 'site/extra.txt': 'x' });
    const root = emptyRoot();
    const work = dir('work');
    const r = await withLoop(img, () => flintRun({ sysroot: root, cmdline: `flint.config=LABEL=${label.toLowerCase()}:/site/a.yaml flint.timeout=5`, work }));
    expect(r.code, r.err).toBe(0);
    expect(readFileSync(join(root, 'etc/motd'), 'utf8')).toBe('from flint\n');
    expect(readdirSync(join(work, 'config')).sort()).toEqual(['a.yaml', 'extra.txt']);
    expect(mountedUnder(work)).toEqual([]);
  });

  it('LABEL=NAME:/path naming a missing file is an error, nothing applied', async () => {
    const label = `D${process.pid % 100000}`;
    const img = mediumImage(label, { 'other.yaml': MOTD_CONFIG });
    const root = emptyRoot();
    const work = dir('work');
    const r = await withLoop(img, () => flintRun({ sysroot: root, cmdline: `flint.config=LABEL=${label}:/site/a.yaml flint.timeout=5`, work }));
    expect(r.code).toBe(1);
    expect(r.err).toContain('has no file /site/a.yaml');
    expect(existsSync(join(root, 'etc/motd'))).toBe(false);
    expect(mountedUnder(work)).toEqual([]);
  });

  it('two media with the same label is an error naming both', async () => {
    const a = mediumImage('FLINT', { 'flint/config.yaml': MOTD_CONFIG });
    const b = mediumImage('Flint', { 'flint/config.yaml': MOTD_CONFIG });
    const root = emptyRoot();
    const r = await withLoop(a, (da) => withLoop(b, (db) => {
      const res = flintRun({ sysroot: root, cmdline: 'flint.timeout=5' });
      expect(res.err).toContain(da);
      expect(res.err).toContain(db);
      return res;
    }));
    expect(r.code).toBe(1);
    expect(r.err).toContain('2 filesystems are labelled flint');
    expect(existsSync(join(root, 'etc/motd'))).toBe(false);
  });

  it('applies a NoCloud seed from a cidata medium, converted from cloud-init', async () => {
    const img = mediumImage('CIDATA', {
      'user-data': '#cloud-config\nusers: []\nwrite_files:\n  - path: /etc/motd\n    content: from cloud-init\n',
      'meta-data': 'instance-id: i-1\nlocal-hostname: seeded\n',
    });
    const root = emptyRoot('');
    const r = await withLoop(img, () => flintRun({ sysroot: root, cmdline: 'flint.timeout=2' }));
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/using user-data on \/dev\/loop\d+ \(label CIDATA, \w+\); copied user-data, meta-data to /);
    expect(readFileSync(join(root, 'etc/motd'), 'utf8')).toBe('from cloud-init');
    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('seeded\n');
    expect(JSON.parse(readFileSync(join(root, 'var/log/flint/result.json'), 'utf8')).config.format).toBe('cloud-init');
  });

  it('reads the config from a fw_cfg tree, and passes over the Ignition config there', () => {
    const fw = dir('fwcfg');
    mkdirSync(join(fw, 'by_name/opt/flint/config'), { recursive: true });
    writeFileSync(join(fw, 'by_name/opt/flint/config/raw'), MOTD_CONFIG);
    mkdirSync(join(fw, 'by_name/opt/com.coreos/config'), { recursive: true });
    writeFileSync(join(fw, 'by_name/opt/com.coreos/config/raw'), '{}');
    const root = emptyRoot('');
    const r = flintRun({ sysroot: root, cmdline: 'flint.timeout=1', fwCfg: fw });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('fw_cfg: opt/com.coreos/config: passed over, opt/flint/config comes first');
    expect(r.err).toContain('fw_cfg: using opt/flint/config');
    expect(readFileSync(join(root, 'etc/motd'), 'utf8')).toBe('from flint\n');
  });

  it('reads flint.yaml from the target\'s boot/firmware folder last', () => {
    const root = emptyRoot();
    mkdirSync(join(root, 'boot/firmware'), { recursive: true });
    writeFileSync(join(root, 'boot/firmware/flint.yaml'), MOTD_CONFIG);
    const r = flintRun({ sysroot: root, cmdline: 'flint.timeout=0' });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('target: using /boot/firmware/flint.yaml');
    expect(readFileSync(join(root, 'etc/motd'), 'utf8')).toBe('from flint\n');
  });

  it('removes openSUSE\'s first-boot wizard marker after success, as Combustion does; a failed run leaves it', () => {
    const marker = 'var/lib/YaST2/reconfig_system';
    const bad = emptyRoot();
    mkdirSync(join(bad, 'var/lib/YaST2'), { recursive: true });
    writeFileSync(join(bad, marker), '');
    mkdirSync(join(bad, 'boot/firmware'), { recursive: true });
    writeFileSync(join(bad, 'boot/firmware/flint.yaml'), MOTD_CONFIG);
    const failed = flintRun({ sysroot: bad, cmdline: 'flint.timeout=0', env: { FLINT_TEST_FAIL_AT: '1' } });
    expect(failed.code).toBe(1);
    expect(existsSync(join(bad, marker))).toBe(true);
    const root = emptyRoot();
    mkdirSync(join(root, 'var/lib/YaST2'), { recursive: true });
    writeFileSync(join(root, marker), '');
    mkdirSync(join(root, 'boot/firmware'), { recursive: true });
    writeFileSync(join(root, 'boot/firmware/flint.yaml'), MOTD_CONFIG);
    const r = flintRun({ sysroot: root, cmdline: 'flint.timeout=0' });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`removed /${marker}, so the jeos-firstboot wizard does not ask`);
    expect(existsSync(join(root, marker))).toBe(false);
    expect(readFileSync(join(root, 'etc/motd'), 'utf8')).toBe('from flint\n');
  });

  it('puts the wizard marker back as it was (the commit failed)', () => {
    const root = dir('wizard');
    mkdirSync(join(root, 'var/lib/YaST2'), { recursive: true });
    const p = join(root, WIZARD_MARKER);
    writeFileSync(p, 'x\n', { mode: 0o640 });
    chownSync(p, 12, 34);
    const lines: string[] = [];
    const restore = dropWizardMarker(root, (l) => lines.push(l));
    expect(existsSync(p)).toBe(false);
    expect(lines).toHaveLength(1);
    restore!();
    const st = statSync(p);
    expect([readFileSync(p, 'utf8'), st.mode & 0o7777, st.uid, st.gid]).toEqual(['x\n', 0o640, 12, 34]);
    expect(dropWizardMarker(dir('no-wizard'), () => undefined)).toBeUndefined();
  });

  it('finds the FAT label of a vfat medium through sysfs and blkid (no mount needed)', async () => {
    const img = vfatImage('FLINT', { 'flint/config.yaml': MOTD_CONFIG });
    await withLoop(img, async (dev) => {
      const found = (await scanDevices('/sys')).filter((d) => d.node === dev);
      expect(found).toEqual([expect.objectContaining({ node: dev, label: 'FLINT', type: 'vfat' })]);
    });
  });

  it('not the first boot: one line, exit 0, nothing looked for', () => {
    const root = emptyRoot('0123456789abcdef0123456789abcdef\n');
    const r = flintRun({ sysroot: root, cmdline: 'quiet' });
    expect(r.code).toBe(0);
    expect(r.out.trim().split('\n')).toHaveLength(1);
    expect(r.out).toContain('not the first boot');
    expect(r.err).toBe('');
  });

  it('no config: one clear line and exit 0; with flint.require=1 exit 1', () => {
    const root = emptyRoot();
    const r = flintRun({ sysroot: root, cmdline: 'flint.timeout=1' });
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe('no flint config found; booting unconfigured');
    expect(r.err).toMatch(/waiting for a config medium: 1 s left/);
    const req = flintRun({ sysroot: root, cmdline: 'flint.timeout=0 flint.require=1' });
    expect(req.code).toBe(1);
    expect(req.out).toContain('flint.require=1');
  });

  it('fetches an https flint.config, checks flint.config.sha512, and applies it', async () => {
    const pki = makePki();
    const caFile = join(dir('ca'), 'ca.pem');
    writeFileSync(caFile, pki.caPem);
    const body = 'version: 1\nfiles:\n  - path: /etc/motd\n    contents: "from https\\n"\n';
    const server = createServer({ key: pki.keyPem, cert: pki.certPem }, (_req, res) => res.end(body));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    const url = `https://127.0.0.1:${port}/c.yaml`;
    const sha = createHash('sha512').update(body).digest('hex');
    try {
      // The initramfs trusts a private CA the way any node program does.
      const runEnv = { ...env, NODE_EXTRA_CA_CERTS: caFile };
      const good = emptyRoot();
      const ok = await flintRunAsync({ sysroot: good, cmdline: `flint.config=${url} flint.config.sha512=${sha} flint.timeout=0` }, runEnv);
      expect(ok.code, ok.err + ok.out).toBe(0);
      expect(readFileSync(join(good, 'etc/motd'), 'utf8')).toBe('from https\n');
      const bad = emptyRoot();
      const wrong = await flintRunAsync({ sysroot: bad, cmdline: `flint.config=${url} flint.config.sha512=${'0'.repeat(128)} flint.timeout=0` }, runEnv);
      expect(wrong.code).toBe(1);
      expect(wrong.err).toMatch(/SHA-512 is [0-9a-f]{128}, not the 0+ that flint.config.sha512= asks for/);
      expect(existsSync(join(bad, 'etc/motd'))).toBe(false);
    } finally {
      server.close();
    }
  });

  it('an invalid config: full diagnostics, exit 1, the target unchanged', async () => {
    const img = mediumImage('FLINT', { 'flint/config.yaml': 'version: 1\nusers:\n  - name: Bad Name\nfiles:\n  - path: /etc/motd\n    mode: 644\n' });
    const root = emptyRoot();
    const before = tree(root);
    const r = await withLoop(img, () => flintRun({ sysroot: root, cmdline: 'flint.timeout=5' }));
    expect(r.code).toBe(1);
    expect(r.out).toContain('invalid');
    expect(r.out).toContain('nothing was written');
    expect(r.err).toContain('users');
    expect(tree(root)).toEqual(before);
    expect(attached(img)).toBe(false);
  });

  it('a failure while applying: the step, the error and the source on the console, exit 1, the root as before', async () => {
    const img = mediumImage('FLINT', { 'flint/config.yaml': MOTD_CONFIG + '  - path: /etc/issue.net\n    contents: "x\\n"\n' });
    const root = emptyRoot();
    writeFileSync(join(root, 'etc/issue.net'), 'before\n');
    const before = tree(root);
    const r = await withLoop(img, () => flintRun({ sysroot: root, cmdline: 'flint.timeout=5', env: { FLINT_TEST_FAIL_AT: '2' } }));
    expect(r.code).toBe(1);
    expect(r.err).toContain('flint: FAILED in step files: injected failure at action 2');
    expect(r.err).toMatch(/flint: config: flint\/config\.yaml on \/dev\/loop\d+ \(label FLINT/);
    expect(r.err).toContain('every change flint made was rolled back');
    expect(r.err).toContain('stopping the boot');
    expect(tree(root)).toEqual(before);
    expect(readFileSync(join(root, 'etc/issue.net'), 'utf8')).toBe('before\n');
    expect(attached(img)).toBe(false);
  });

  it('a root mounted read-only is remounted read-write for the journal', async () => {
    const d = dir('ro');
    const content = join(d, 'content');
    mkdirSync(join(content, 'etc'), { recursive: true });
    execFileSync('truncate', ['-s', '16M', join(d, 'root.img')]);
    execFileSync('mkfs.ext4', ['-q', '-d', content, join(d, 'root.img')], { env, stdio: 'ignore' });
    const sysroot = join(d, 'sysroot');
    mkdirSync(sysroot);
    const fw = dir('fwcfg');
    mkdirSync(join(fw, 'by_name/opt/flint/config'), { recursive: true });
    writeFileSync(join(fw, 'by_name/opt/flint/config/raw'), MOTD_CONFIG);
    await withLoop(join(d, 'root.img'), (dev) => {
      execFileSync('mount', ['-o', 'ro', dev, sysroot], { env });
      try {
        const r = flintRun({ sysroot, cmdline: 'flint.timeout=0', fwCfg: fw });
        expect(r.code, r.err).toBe(0);
        expect(r.err).toContain('was mounted read-only: remounted it read-write');
        expect(readFileSync(join(sysroot, 'etc/motd'), 'utf8')).toBe('from flint\n');
      } finally {
        spawnSync('umount', [sysroot], { env });
      }
    });
  });

  it('flint.on_failure=continue: the same failure exits 0 and says the boot goes on unconfigured', () => {
    const fw = dir('fwcfg');
    mkdirSync(join(fw, 'by_name/opt/flint/config'), { recursive: true });
    writeFileSync(join(fw, 'by_name/opt/flint/config/raw'), MOTD_CONFIG);
    const root = emptyRoot();
    const r = flintRun({ sysroot: root, cmdline: 'flint.timeout=0 flint.on_failure=continue', fwCfg: fw, env: { FLINT_TEST_FAIL_AT: '1' } });
    expect(r.code).toBe(0);
    expect(r.err).toContain('FAILED in step files');
    expect(r.err).toContain('flint.on_failure=continue: the boot goes on, unconfigured');
    expect(existsSync(join(root, 'etc/motd'))).toBe(false);
    // An invalid config under on_failure=continue: diagnostics, nothing written, exit 0.
    writeFileSync(join(fw, 'by_name/opt/flint/config/raw'), 'version: 1\nfiles:\n  - path: /etc/motd\n    mode: 644\n');
    const bad = flintRun({ sysroot: root, cmdline: 'flint.timeout=0 flint.on_failure=continue', fwCfg: fw });
    expect(bad.code).toBe(0);
    expect(bad.out).toContain('nothing was written');
    expect(existsSync(join(root, 'etc/motd'))).toBe(false);
  });

  it('after success the next boot is not a first boot, although machine-id is still empty; flint.firstboot forces a run', () => {
    const fw = dir('fwcfg');
    mkdirSync(join(fw, 'by_name/opt/flint/config'), { recursive: true });
    writeFileSync(join(fw, 'by_name/opt/flint/config/raw'), MOTD_CONFIG);
    const root = emptyRoot('');
    const first = flintRun({ sysroot: root, cmdline: 'flint.timeout=0', fwCfg: fw });
    expect(first.code, first.err).toBe(0);
    expect(readFileSync(join(root, 'etc/machine-id'), 'utf8')).toBe('');
    expect(JSON.parse(readFileSync(join(root, 'etc/.flint-result.json'), 'utf8'))).toMatchObject({ source: 'QEMU fw_cfg opt/flint/config' });
    const second = flintRun({ sysroot: root, cmdline: 'flint.timeout=0', fwCfg: fw });
    expect(second.code).toBe(0);
    expect(second.out).toContain('not the first boot');
    expect(second.out).toContain('/etc/.flint-result.json says flint already configured it');
    const forced = flintRun({ sysroot: root, cmdline: 'flint.timeout=0 flint.firstboot', fwCfg: fw });
    expect(forced.code).toBe(0);
    expect(forced.out).toContain('nothing to change');
  });

  it('writes RESULT.txt and result.json back to a FAT medium with mtools, without mounting it', async () => {
    const img = vfatImage('FLINT', { 'flint/config.yaml': MOTD_CONFIG });
    const report: Report = { flint: 'test', config: { file: '/run/flint/config/config.yaml', sha256: 'ab'.repeat(32) }, started: '2026-01-01T00:00:00Z', finished: '2026-01-01T00:00:01Z', changes: [], unchanged: 0, warnings: [], timings_ms: {} };
    const lines: string[] = [];
    const ok = await withLoop(img, (dev) => writeBack({ device: { node: dev }, folder: 'flint' }, report, ['applied 1 change to /sysroot', '  users: alice'], dir('work'), (l) => lines.push(l)));
    expect(ok, lines.join('\n')).toBe(true);
    const txt = execFileSync('mtype', ['-i', img, '::/flint/RESULT.txt'], { encoding: 'utf8', env });
    expect(txt).toContain('flint test: configured this machine at 2026-01-01T00:00:01Z');
    expect(txt).toContain('users: alice');
    expect(JSON.parse(execFileSync('mtype', ['-i', img, '::/flint/result.json'], { encoding: 'utf8', env }))).toEqual(report);
    expect(lines.some((l) => /^wrote flint\/RESULT\.txt and result\.json to \/dev\/loop\d+$/.test(l))).toBe(true);
  });
});

