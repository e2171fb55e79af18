/**
 * Combustion compatibility, end to end: `flint run` (the bundle) finds a Combustion
 * medium (ext4, as Combustion's own CI builds it) or fw_cfg script and runs the script
 * the way Combustion does, chrooted in a copy of a Debian root. The scripts are the
 * examples from Combustion's README, unchanged except where noted (no package manager
 * or network here). flint runs in a private mount namespace whose /etc is a copy, so a
 * `--prepare` run (which runs in the initramfs, i.e. on this machine) writes there, and
 * /dev/tty0 (the README's tee target) is /dev/null.
 * Needs root, losetup, e2fsprogs, unshare and the cached Debian root.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lockMediaForThisFile } from '../helpers/media-lock.js';
import { freshRoot, hasRootfsSupport } from './rootfs.js';
import { BIN, hasTool, hostEnv, loopSupport, scratch } from '../helpers/host.js';
import type { Support } from '../helpers/host.js';

const env = hostEnv;

function support(): Support {
  const rootfs = hasRootfsSupport();
  if (!rootfs.ok) return { ok: false, reason: rootfs.reason ?? 'no Debian root' };
  return loopSupport([['unshare', 'util-linux'], ['mkfs.ext4', 'e2fsprogs'], ['blkid', 'util-linux']]);
}

const can = support();
const { dir } = scratch('flint-comb-');
// Discovery scans every block device: no other test file's media may be attached meanwhile.
lockMediaForThisFile();

/** An ext4 medium with FILES, as Combustion's CI makes one (mkfs.ext4 -d). */
function ext4Medium(label: string, files: Record<string, string>): string {
  const d = dir('medium');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(d, 'content', path, '..'), { recursive: true });
    // Without exec bits, as on FAT or ISO media: flint sets them, as Combustion does.
    writeFileSync(join(d, 'content', path), text, { mode: 0o644 });
  }
  execFileSync('truncate', ['-s', '16M', join(d, 'medium.img')]);
  execFileSync('mkfs.ext4', ['-q', '-L', label, '-d', join(d, 'content'), join(d, 'medium.img')], { env, stdio: 'ignore' });
  return join(d, 'medium.img');
}

/** A FAT medium, as fuel-ignition's image is (label ignition), built with mtools. */
function fatMedium(label: string, files: Record<string, string>): string {
  const img = join(dir('fat'), 'medium.img');
  execFileSync('truncate', ['-s', '16M', img]);
  execFileSync('mkfs.vfat', ['-n', label, img], { env, stdio: 'ignore' });
  execFileSync('mmd', ['-i', img, '::/combustion'], { env });
  for (const [path, text] of Object.entries(files)) {
    const src = join(dir('src'), 'f');
    writeFileSync(src, text);
    execFileSync('mcopy', ['-i', img, src, `::/${path}`], { env });
  }
  return img;
}

function withLoop<T>(img: string, fn: (dev: string) => T): T {
  const dev = execFileSync('losetup', ['-f', '--show', img], { encoding: 'utf8', env }).trim();
  try {
    return fn(dev);
  } finally {
    spawnSync('losetup', ['-d', dev], { env });
  }
}

interface Run {
  code: number | null;
  out: string;
  err: string;
  /** The namespace's /etc: what --prepare runs wrote "in the initramfs". */
  initrdEtc: string;
}

/** The test harness's own fixed shell text: a private /etc copy and a silent /dev/tty0, then flint run. */
const HARNESS = 'set -e; cp -a /etc/. "$1/"; mount --bind "$1" /etc; mount --bind /dev/null /dev/tty0 2>/dev/null || true; shift; exec "$@"';

function flintRun(sysroot: string, cmdline: string, fwCfg?: string): Run {
  const d = dir('run');
  writeFileSync(join(d, 'cmdline'), cmdline + '\n');
  const etc = join(d, 'etc');
  mkdirSync(etc);
  const args = [BIN, 'run', '--sysroot', sysroot, '--cmdline', join(d, 'cmdline'), '--fw-cfg', fwCfg ?? dir('fw-empty'), '--work', join(d, 'work')];
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', HARNESS, 'harness', etc, process.execPath, ...args], { encoding: 'utf8', env, timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr, initrdEtc: etc };
}

function mode(p: string): string {
  return (statSync(p).mode & 0o7777).toString(8).padStart(4, '0');
}

function mountsUnder(p: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(p) === true);
}

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA2W4ylBpNwsCJJgCIJv6S+GBdb8LJg1OwHVwgsBw43P admin@laptop\n';

/** Combustion README, "More complex configuration example", verbatim. */
const README_COMPLEX = `#!/bin/bash
# combustion: network
# Redirect output to the console
exec > >(exec tee -a /dev/tty0) 2>&1
# Set a password for root, generate the hash with "openssl passwd -6"
echo 'root:$5$.wn2BZHlEJ5R3B1C$TAHEchlU.h2tvfOpOki54NaHpGYKwdNhjaBuSpDotD7' | chpasswd -e
# Add a public ssh key and enable sshd
mkdir -pm700 /root/.ssh/
cat id_rsa_new.pub >> /root/.ssh/authorized_keys
systemctl enable sshd.service
# Install vim-small
zypper --non-interactive install vim-small
# Leave a marker
echo "Configured with combustion" > /etc/issue.d/combustion
# Close outputs and wait for tee to finish.
exec 1>&- 2>&-; wait;
`;

/** Combustion README, "Perform modifications in the initrd environment"; only \`curl example.com\` is left out (no network here). */
const README_PREPARE = `#!/bin/bash
# combustion: network prepare
set -euxo pipefail

nm_config() {
    umask 077 # Required for NM config
    mkdir -p /etc/NetworkManager/system-connections/
    cat >/etc/NetworkManager/system-connections/static.nmconnection <<-EOF
    [connection]
    id=static
    type=ethernet
    autoconnect=true

    [ipv4]
    method=manual
    dns=192.168.100.1
    address1=192.168.100.42/24,192.168.100.1
EOF
}

if [ "\${1-}" = "--prepare" ]; then
    nm_config # Configure NM in the initrd
    exit 0
fi

# Redirect output to the console
exec > >(exec tee -a /dev/tty0) 2>&1

nm_config # Configure NM in the system
# Leave a marker
echo "Configured with combustion" > /etc/issue.d/combustion
# Close outputs and wait for tee to finish.
exec 1>&- 2>&-; wait;
`;

const NM_FILE = 'etc/NetworkManager/system-connections/static.nmconnection';

describe.skipIf(!can.ok)(`Combustion scripts under flint run${can.ok ? '' : ` (SKIPPED: ${can.reason})`}`, () => {
  it("README's user + key example from a COMBUSTION medium: the same files and modes as Combustion, result written back", async () => {
    const img = ext4Medium('COMBUSTION', { 'combustion/script': README_COMPLEX, 'combustion/id_rsa_new.pub': KEY });
    const root = await freshRoot();
    try {
      // MicroOS has /etc/issue.d; the Debian root does not.
      mkdirSync(join(root.dir, 'etc/issue.d'));
      const r = withLoop(img, () => flintRun(root.dir, 'flint.timeout=3'));
      expect(r.code, r.err + r.out).toBe(0);
      expect(r.err).toMatch(/using combustion\/script on \/dev\/loop\d+ \(label COMBUSTION, \w+\)/);
      expect(r.err).toContain('rd.neednet=1');
      const shadow = readFileSync(join(root.dir, 'etc/shadow'), 'utf8');
      expect(shadow).toMatch(/^root:\$5\$\.wn2BZHlEJ5R3B1C\$TAHEchlU\.h2tvfOpOki54NaHpGYKwdNhjaBuSpDotD7:/m);
      expect(mode(join(root.dir, 'root/.ssh'))).toBe('0700');
      expect(readFileSync(join(root.dir, 'root/.ssh/authorized_keys'), 'utf8')).toBe(KEY);
      expect(mode(join(root.dir, 'root/.ssh/authorized_keys'))).toBe('0644');
      expect(readFileSync(join(root.dir, 'etc/issue.d/combustion'), 'utf8')).toBe('Configured with combustion\n');
      expect(mode(join(root.dir, 'etc/issue.d/combustion'))).toBe('0644');
      // The report keeps the name and exit code, not the output.
      const report = JSON.parse(readFileSync(join(root.dir, 'var/log/flint/result.json'), 'utf8')) as { scripts: unknown };
      expect(report.scripts).toEqual([{ name: 'combustion', stage: 'post', exit_code: 0 }]);
      expect(JSON.stringify(report)).not.toContain('TAHEchlU');
      expect(existsSync(join(root.dir, 'etc/.flint-result.json'))).toBe(true);
      expect(mountsUnder(root.dir)).toEqual([]);
      // RESULT.txt and result.json on the medium.
      const back = dir('back');
      execFileSync('debugfs', ['-R', `dump /combustion/RESULT.txt ${join(back, 'RESULT.txt')}`, img], { env, stdio: 'ignore' });
      expect(readFileSync(join(back, 'RESULT.txt'), 'utf8')).toContain('scripts: combustion (post, exit 0)');
    } finally {
      await root.cleanup();
    }
  }, 300_000);

  it("README's prepare example: --prepare writes the initramfs's NetworkManager file, the main run the target's, both 0600", async () => {
    const img = ext4Medium('combustion', { 'combustion/script': README_PREPARE });
    const root = await freshRoot();
    try {
      mkdirSync(join(root.dir, 'etc/issue.d'));
      const r = withLoop(img, () => flintRun(root.dir, 'flint.timeout=3 flint.report=0'));
      expect(r.code, r.err + r.out).toBe(0);
      expect(r.err).toContain('script "combustion" (prepare, in the initramfs)');
      expect(r.err).toContain('flint.report=0: nothing written back');
      const initrd = join(r.initrdEtc, 'NetworkManager/system-connections/static.nmconnection');
      const target = join(root.dir, NM_FILE);
      expect(readFileSync(initrd, 'utf8')).toContain('address1=192.168.100.42/24,192.168.100.1');
      expect(readFileSync(target, 'utf8')).toBe(readFileSync(initrd, 'utf8'));
      expect(mode(initrd)).toBe('0600');
      expect(mode(target)).toBe('0600');
      // umask 077 and mkdir -p: both new folders 0700 in the target, as under Combustion.
      expect(mode(join(root.dir, 'etc/NetworkManager'))).toBe('0700');
      expect(mode(join(root.dir, 'etc/NetworkManager/system-connections'))).toBe('0700');
      expect(statSync(target).uid).toBe(0);
      expect(mountsUnder(root.dir)).toEqual([]);
    } finally {
      await root.cleanup();
    }
  }, 300_000);

  const noFat = !hasTool('mkfs.vfat') ? 'mkfs.vfat not installed: apt-get install dosfstools' : !hasTool('mcopy') ? 'mtools not installed: apt-get install mtools' : undefined;
  it.skipIf(noFat !== undefined)(`a FAT medium labelled ignition (as fuel-ignition makes it): read and written back without a vfat driver${noFat === undefined ? '' : ` (SKIPPED: ${noFat})`}`, async () => {
    const img = fatMedium('IGNITION', { 'combustion/script': '#!/bin/sh\nset -e\ncp note.txt /etc/from-fat\n', 'combustion/note.txt': 'from a FAT medium\n' });
    const root = await freshRoot();
    try {
      const r = withLoop(img, () => flintRun(root.dir, 'flint.timeout=3'));
      expect(r.code, r.err + r.out).toBe(0);
      expect(readFileSync(join(root.dir, 'etc/from-fat'), 'utf8')).toBe('from a FAT medium\n');
      expect(execFileSync('mtype', ['-i', img, '::/combustion/RESULT.txt'], { encoding: 'utf8', env })).toContain('scripts: combustion (post, exit 0)');
      expect(mountsUnder(root.dir)).toEqual([]);
    } finally {
      await root.cleanup();
    }
  }, 300_000);

  it('combustion.url= with a scheme flint does not fetch is an error that says what to do; nothing applied', () => {
    const root = dir('root');
    mkdirSync(join(root, 'etc'));
    const r = flintRun(root, 'flint.timeout=0 combustion.url=tftp://10.0.2.2/script');
    expect(r.code).toBe(1);
    expect(r.err).toContain('combustion.url=tftp://10.0.2.2/script: only https:// URLs are fetched; serve the script over https, or put it on a medium labelled combustion as combustion/script');
    expect(r.out).toContain('no config applied');
    expect(existsSync(join(root, 'var'))).toBe(false);
  });

  it('a failing fw_cfg Combustion script: step, error and source on the console, exit 1; on_failure=continue exits 0', async () => {
    const fw = dir('fw');
    mkdirSync(join(fw, 'by_name/opt/org.opensuse.combustion/script'), { recursive: true });
    writeFileSync(join(fw, 'by_name/opt/org.opensuse.combustion/script/raw'), '#!/bin/sh\necho half-way > /etc/half-way\necho "no luck" >&2\nexit 7\n');
    const root = await freshRoot();
    try {
      const r = flintRun(root.dir, 'flint.timeout=0', fw);
      expect(r.code).toBe(1);
      expect(r.err).toContain('FAILED in step scripts: script "combustion" (post) exited with status 7');
      expect(r.err).toContain('config: QEMU fw_cfg opt/org.opensuse.combustion/script');
      expect(r.err).toContain('[combustion] no luck');
      expect(r.err).toContain('stopping the boot');
      expect(existsSync(join(root.dir, 'etc/.flint-result.json'))).toBe(false);
      expect(existsSync(join(root.dir, 'var/log/flint/result.json'))).toBe(false);
      expect(mountsUnder(root.dir)).toEqual([]);
      const cont = flintRun(root.dir, 'flint.timeout=0 flint.on_failure=continue', fw);
      expect(cont.code).toBe(0);
      expect(cont.err).toContain('flint.on_failure=continue: the boot goes on, unconfigured');
    } finally {
      await root.cleanup();
    }
  }, 300_000);
  it('one medium with ignition/config.ign and combustion/script: the Ignition config first, then the script, as on MicroOS', async () => {
    const ign = JSON.stringify({
      ignition: { version: '3.3.0' },
      passwd: { users: [{ name: 'core', sshAuthorizedKeys: [KEY.trim()] }] },
      storage: { files: [{ path: '/etc/motd', mode: 420, overwrite: true, contents: { source: 'data:,from%20ignition%0A' } }] },
    });
    // The script sees what Ignition made: the user and the file.
    const script = '#!/bin/sh\nset -eu\nid -u core > /etc/combustion-saw-core\ncat /etc/motd >> /etc/combustion-saw-core\n';
    const img = ext4Medium('ignition', { 'ignition/config.ign': ign, 'combustion/script': script });
    const root = await freshRoot();
    try {
      const r = withLoop(img, () => flintRun(root.dir, 'flint.timeout=3'));
      expect(r.code, r.err + r.out).toBe(0);
      expect(r.err).toMatch(/also holds combustion\/script: it runs after the Ignition config/);
      const uid = /^core:x:(\d+):/m.exec(readFileSync(join(root.dir, 'etc/passwd'), 'utf8'))?.[1];
      expect(uid).toBeDefined();
      expect(readFileSync(join(root.dir, 'etc/combustion-saw-core'), 'utf8')).toBe(`${uid ?? ''}\nfrom ignition\n`);
      const report = JSON.parse(readFileSync(join(root.dir, 'var/log/flint/result.json'), 'utf8')) as { scripts: unknown };
      expect(report.scripts).toEqual([{ name: 'combustion', stage: 'post', exit_code: 0 }]);
    } finally {
      await root.cleanup();
    }
  }, 300_000);
});
