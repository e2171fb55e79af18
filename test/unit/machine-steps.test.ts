/**
 * Issue 20's machine-wide settings on synthetic roots: etc_hosts, ntp (chrony and
 * systemd-timesyncd), ca_certificates (Debian, Fedora, openSUSE layouts), swap_file,
 * power_state and raspberry_pi, each applied, and nothing to do the second time; and
 * their semantic checks.
 */
import { makeTargetRoot, stepContext } from '../helpers/step-context.js';
import { readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FlintConfig } from '../../src/config/validate.js';
import { validateText } from '../../src/config/validate.js';
import { applyPlanned } from '../../src/engine/apply.js';
import { planSteps } from '../../src/engine/plan.js';
import type { Plan } from '../../src/engine/plan.js';
import type { Step, StepContext } from '../../src/engine/step.js';
import { STEPS } from '../../src/steps/index.js';
import { setHostsEntries } from '../../src/steps/system/step.js';
import { replaceChronySources } from '../../src/steps/time-sync/step.js';
import { editConfigTxt, piSettings } from '../../src/steps/raspberry-pi/step.js';
import { makeSwapScript, swapUnitName } from '../../src/steps/swap-file/step.js';
import { powerStateUnit } from '../../src/steps/power-state/step.js';
import { packageCommands, packagesUnit } from '../../src/steps/packages/step.js';
import { issue } from '../helpers/pki.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const makeRoot = (files: Record<string, string | Buffer>): string => makeTargetRoot(files, dirs, 'flint-machine-');

function context(root: string, config: Omit<FlintConfig, 'version'>): StepContext {
  return stepContext(root, { version: 1, ...config }, { payloads: new Map() });
}

function applyTwice(ctx: StepContext, steps: readonly Step[] = STEPS): Plan {
  const first = planSteps(ctx, steps);
  expect(first.problems).toEqual([]);
  applyPlanned(ctx.root, first.planned);
  const second = planSteps(ctx, steps);
  expect(second.planned.map((p) => p.action.path)).toEqual([]);
  return first;
}

const text = (root: string, p: string) => readFileSync(join(root, p), 'utf8');
const errors = (yaml: string) => validateText('c.yaml', `version: 1\n${yaml}`).diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.path}: ${d.message}`);

describe('etc_hosts', () => {
  it('puts the names on an existing line for the address, keeping its comment, and appends the others', () => {
    const before = '127.0.0.1\tlocalhost\n192.168.1.10 oldname # the NAS\n';
    expect(setHostsEntries(before, [{ address: '192.168.1.10', names: ['nas.home.arpa', 'nas'] }, { address: 'fd00::5', names: ['printer'] }])).toBe('127.0.0.1\tlocalhost\n192.168.1.10 nas.home.arpa nas # the NAS\nfd00::5\tprinter\n');
  });

  it('composes with the own host name on 127.0.1.1 in one edit of /etc/hosts', () => {
    const root = makeRoot({ 'etc/debian_version': '12\n', 'etc/hosts': '127.0.0.1\tlocalhost\n' });
    const plan = applyTwice(context(root, { hostname: 'box', etc_hosts: [{ address: '10.0.0.2', names: ['db'] }] }));
    expect(plan.planned.filter((p) => p.action.path === '/etc/hosts')).toHaveLength(1);
    expect(text(root, 'etc/hosts')).toBe('127.0.0.1\tlocalhost\n127.0.1.1\tbox\n10.0.0.2\tdb\n');
  });

  it('refuses what is not an address, a bad name, and an address given twice', () => {
    expect(errors('etc_hosts:\n  - {address: 10.0.0.0/8, names: [a]}\n  - {address: 10.0.0.1, names: ["bad_name!"]}\n  - {address: 10.0.0.1, names: [b]}\n')).toEqual([
      expect.stringMatching(/^etc_hosts\[0\]\.address: "10\.0\.0\.0\/8" is not an IPv4 or IPv6 address/),
      expect.stringMatching(/^etc_hosts\[1\]\.names\[0\]: /),
      expect.stringMatching(/^etc_hosts\[2\]\.address: 10\.0\.0\.1 is already given at etc_hosts\[1\]/),
    ]);
  });
});

describe('ntp', () => {
  const DEBIAN_CHRONY = '# Use Debian vendor zone.\npool 2.debian.pool.ntp.org iburst\n\nsourcedir /run/chrony-dhcp\nsourcedir /etc/chrony/sources.d\nkeyfile /etc/chrony/chrony.keys\n';

  it('chrony: the config\'s sources where the image\'s first one was, every other source commented out', () => {
    const root = makeRoot({ 'usr/sbin/chronyd': '', 'etc/chrony/chrony.conf': DEBIAN_CHRONY, 'etc/chrony/sources.d/local.sources': 'server 10.1.1.1 iburst\n', 'usr/lib/systemd/systemd-timesyncd': '' });
    const plan = applyTwice(context(root, { ntp: { servers: ['ntp.example.org'], pools: ['pool.example.org'] } }));
    expect(text(root, 'etc/chrony/chrony.conf')).toBe('# Use Debian vendor zone.\n# The NTP servers of the flint config (ntp:):\nserver ntp.example.org iburst\npool pool.example.org iburst\n#pool 2.debian.pool.ntp.org iburst\n\nsourcedir /run/chrony-dhcp\nsourcedir /etc/chrony/sources.d\nkeyfile /etc/chrony/chrony.keys\n');
    expect(text(root, 'etc/chrony/sources.d/local.sources')).toBe('#server 10.1.1.1 iburst\n');
    expect(plan.report.ntp).toEqual({ client: 'chrony', file: '/etc/chrony/chrony.conf' });
  });

  it('a chrony.conf without sources gets them at the end', () => {
    expect(replaceChronySources('driftfile /var/lib/chrony/drift\n', ['server a iburst'])).toBe('driftfile /var/lib/chrony/drift\n\n# The NTP servers of the flint config (ntp:):\nserver a iburst\n');
  });

  it('systemd-timesyncd: a drop-in with NTP=, pools as servers', () => {
    const root = makeRoot({ 'usr/lib/systemd/systemd-timesyncd': '' });
    applyTwice(context(root, { ntp: { servers: ['192.168.1.1'], pools: ['2.debian.pool.ntp.org'] } }));
    expect(text(root, 'etc/systemd/timesyncd.conf.d/50-flint.conf')).toBe('# Written by flint (ntp: in the config)\n[Time]\nNTP=192.168.1.1 2.debian.pool.ntp.org\n');
  });

  it('a target without an NTP client is a problem, and an empty ntp: an error', () => {
    const plan = planSteps(context(makeRoot({}), { ntp: { servers: ['a.example'] } }), STEPS);
    expect(plan.problems.map((p) => p.message)).toEqual([expect.stringMatching(/no NTP client: neither chrony .* nor systemd-timesyncd/)]);
    expect(errors('ntp: {}\n')).toEqual(['ntp: ntp: needs at least one server or pool']);
    expect(errors('ntp: {servers: ["no such host!"]}\n')).toEqual([expect.stringMatching(/^ntp\.servers\[0\]: "no such host!" is neither a host name nor an IP address/)]);
  });
});

describe('ca_certificates', () => {
  const ca = issue({ subject: 'home lab CA', ca: true });
  const leaf = issue({ subject: 'web.home.arpa', issuer: ca });

  it('Debian: NAME.crt where update-ca-certificates takes local ones, the bundle extended once, the tool run at first boot', () => {
    const root = makeRoot({ 'usr/sbin/update-ca-certificates': '', 'usr/share/ca-certificates/mozilla/x.crt': '', 'etc/ssl/certs/ca-certificates.crt': 'EXISTING\n' });
    const plan = applyTwice(context(root, { ca_certificates: [{ name: 'home-lab', contents: ca.certPem }] }));
    const pem = ca.certPem.trim();
    expect(text(root, 'usr/local/share/ca-certificates/home-lab.crt')).toBe(`${pem}\n`);
    expect(text(root, 'etc/ssl/certs/ca-certificates.crt')).toBe(`EXISTING\n${pem}\n`);
    expect(text(root, 'etc/systemd/system/flint-ca-certificates.service')).toMatch(/ExecStart=update-ca-certificates\n[\s\S]*WantedBy=sysinit.target/);
    expect(readlinkSync(join(root, 'etc/systemd/system/sysinit.target.wants/flint-ca-certificates.service'))).toBe('/etc/systemd/system/flint-ca-certificates.service');
    expect(plan.report.ca_certificates).toEqual({ family: 'Debian', installed: [{ name: 'home-lab', path: '/usr/local/share/ca-certificates/home-lab.crt', subject: 'CN=home lab CA' }] });
  });

  it('Fedora and openSUSE: their anchor folders and tools', () => {
    const fedora = makeRoot({ 'usr/bin/update-ca-trust': '' });
    applyTwice(context(fedora, { ca_certificates: [{ name: 'lab', contents: ca.certPem }] }));
    expect(text(fedora, 'etc/pki/ca-trust/source/anchors/lab.pem')).toBe(`${ca.certPem.trim()}\n`);
    expect(text(fedora, 'etc/systemd/system/flint-ca-certificates.service')).toMatch(/ExecStart=update-ca-trust\n/);
    const suse = makeRoot({ 'usr/sbin/update-ca-certificates': '', 'etc/pki/trust/anchors/.keep': '' });
    applyTwice(context(suse, { ca_certificates: [{ name: 'lab', contents: ca.certPem }] }));
    expect(text(suse, 'etc/pki/trust/anchors/lab.pem')).toBe(`${ca.certPem.trim()}\n`);
  });

  it('refuses what is not one certificate, warns for one that is not a CA, and needs a trust tool in the target', () => {
    expect(errors('ca_certificates:\n  - {name: x, contents: "not a cert"}\n')).toEqual([expect.stringMatching(/^ca_certificates\[0\]\.contents: this is not one PEM certificate: no PEM certificate/)]);
    expect(errors(`ca_certificates:\n  - name: two\n    contents: |\n${(ca.certPem + leaf.certPem).replace(/^/gm, '      ')}\n`)).toEqual([expect.stringMatching(/2 certificates in it; give each its own entry/)]);
    expect(errors('ca_certificates:\n  - {name: x.crt, source: "https://example.org/ca.pem"}\n')).toEqual([expect.stringMatching(/^ca_certificates\[0\]\.name: a certificate name is a file name without extension/), expect.stringMatching(/^ca_certificates\[0\]\.source: an https source needs verify/)]);
    const warn = validateText('c.yaml', `version: 1\nca_certificates:\n  - name: leaf\n    contents: |\n${leaf.certPem.replace(/^/gm, '      ')}\n`).diagnostics;
    expect(warn.map((d) => `${d.severity} ${d.message}`)).toEqual([expect.stringMatching(/^warning the certificate of CN=web\.home\.arpa is not a CA certificate/)]);
    const plan = planSteps(context(makeRoot({}), { ca_certificates: [{ name: 'lab', contents: ca.certPem }] }), STEPS);
    expect(plan.problems.map((p) => p.message)).toEqual(['the target has no trust store tool (update-ca-certificates or update-ca-trust)']);
  });
});

describe('swap_file and power_state', () => {
  it('swap_file: a service that makes the file once and a .swap unit that does not hold up the boot', () => {
    const root = makeRoot({});
    applyTwice(context(root, { swap_file: { path: '/var/swap file', size: '1GiB' } }));
    expect(swapUnitName('/var/swap file')).toBe('var-swap\\x20file.swap');
    const service = text(root, 'etc/systemd/system/flint-swap-file.service');
    expect(service).toContain('ConditionPathExists=!/var/swap file\n');
    expect(service).toContain('Before=var-swap\\x20file.swap shutdown.target\n');
    // systemd specifiers and variables are escaped: %T is stat's, not systemd's.
    expect(service).toContain('stat -f -c %%T');
    const swap = text(root, 'etc/systemd/system/var-swap\\x20file.swap');
    expect(swap).toMatch(/DefaultDependencies=no\n[\s\S]*What=\/var\/swap file\n[\s\S]*WantedBy=multi-user.target/);
    expect(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants/var-swap\\x20file.swap'))).toBe('/etc/systemd/system/var-swap\\x20file.swap');
    expect(makeSwapScript('/swapfile', 1536n * 1024n)).toContain('fallocate -l 1572864 "$t" 2>/dev/null || dd if=/dev/zero of="$t" bs=1M count=2 status=none');
  });

  it('swap_file sizes and paths are checked', () => {
    expect(errors('swap_file: {size: 50%}\n')).toEqual(['swap_file.size: a swap file has a fixed size, not a share of the disk']);
    expect(errors('swap_file: {size: 2GB}\n')).toEqual([expect.stringMatching(/^swap_file\.size: "2GB" uses a decimal unit/)]);
    expect(errors('swap_file: {path: /tmp/swap, size: 1GiB}\n')).toEqual([expect.stringMatching(/^swap_file\.path: \/tmp\/swap is on a filesystem/)]);
    expect(errors('swap_file: {path: swap, size: 1GiB}\n')).toEqual([expect.stringMatching(/^swap_file\.path: the swap file path is an absolute path/)]);
  });

  it('power_state: once, after the default target, with the delay and a message that systemd does not expand', () => {
    const unit = powerStateUnit({ mode: 'reboot', delay_seconds: 30, message: 'rebooting for 100% of "the" new $kernel' });
    expect(unit).toContain('After=multi-user.target graphical.target flint-packages.service\nConditionPathExists=!/var/lib/flint/power-state-done\n');
    expect(unit).toContain('ExecStart=echo "rebooting for 100%% of \\"the\\" new $$kernel"\nExecStart=sleep 30\nExecStart=systemctl --no-block reboot\n');
    const root = makeRoot({});
    applyTwice(context(root, { power_state: { mode: 'poweroff' } }));
    expect(text(root, 'etc/systemd/system/flint-power-state.service')).not.toContain('sleep');
    expect(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants/flint-power-state.service'))).toBe('/etc/systemd/system/flint-power-state.service');
    expect(errors('power_state: {mode: explode}\n')).toHaveLength(1);
  });
});

describe('raspberry_pi', () => {
  const CONFIG_TXT = '# For more options and information see\n#dtparam=i2c_arm=on\n#dtparam=i2s=on\n#dtparam=spi=on\ndtparam=audio=on\n\n[cm4]\notg_mode=1\n\n[all]\n';

  it('switches interfaces on where raspi-config does: commented lines in place, the rest appended under [all]', () => {
    expect(editConfigTxt(CONFIG_TXT, piSettings({ i2c: true, spi: true, onewire: true, serial_hardware: true }))).toBe('# For more options and information see\ndtparam=i2c_arm=on\n#dtparam=i2s=on\ndtparam=spi=on\ndtparam=audio=on\n\n[cm4]\notg_mode=1\n\n[all]\ndtoverlay=w1-gpio\nenable_uart=1\n');
    expect(editConfigTxt('dtparam=audio=on\n[cm4]\notg_mode=1\n', piSettings({ serial_hardware: false }))).toBe('dtparam=audio=on\n[cm4]\notg_mode=1\n[all]\nenable_uart=0\n');
    expect(editConfigTxt('dtoverlay=w1-gpio\n', piSettings({ onewire: false }))).toBe('#dtoverlay=w1-gpio\n');
  });

  it('on a Raspberry Pi OS root: config.txt, i2c-dev at boot and the serial console in cmdline.txt', () => {
    const root = makeRoot({ 'boot/firmware/config.txt': CONFIG_TXT, 'boot/firmware/cmdline.txt': 'console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 fsck.repair=yes rootwait\n' });
    applyTwice(context(root, { raspberry_pi: { i2c: true, serial_hardware: true, serial_console: true } }));
    expect(text(root, 'boot/firmware/config.txt')).toContain('\ndtparam=i2c_arm=on\n');
    expect(text(root, 'etc/modules-load.d/flint-raspberry-pi.conf')).toBe('i2c-dev\n');
    expect(text(root, 'boot/firmware/cmdline.txt')).toBe('console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 fsck.repair=yes rootwait console=serial0,115200\n');
    // With kernel_arguments too, cmdline.txt is edited once, with both.
    const both = makeRoot({ 'boot/firmware/config.txt': '', 'boot/firmware/cmdline.txt': 'console=tty1 rootwait\n' });
    applyTwice(context(both, { kernel_arguments: { add: ['quiet'] }, raspberry_pi: { serial_console: true, serial_hardware: true } }));
    expect(text(both, 'boot/firmware/cmdline.txt')).toBe('console=tty1 rootwait quiet console=serial0,115200\n');
  });

  it('without a Raspberry Pi boot partition it is a problem; a console without the port an error', () => {
    const plan = planSteps(context(makeRoot({}), { raspberry_pi: { spi: true } }), STEPS);
    expect(plan.problems.map((p) => p.message)).toEqual(['the target has no Raspberry Pi boot partition (no config.txt in /boot/firmware or /boot)']);
    expect(errors('raspberry_pi: {serial_console: true, serial_hardware: false}\n')).toEqual(['raspberry_pi.serial_console: a serial console needs the serial port: serial_hardware is false']);
  });
});

describe('packages', () => {
  it('the commands of each package manager, the network only when needed, once', () => {
    const p = { install: ['nginx'], upgrade: true };
    expect(packageCommands('apt', p, ['/var/lib/flint/packages/t.deb'])).toEqual([
      ['apt-get', '-q', 'update'],
      ['apt-get', '-y', '-q', '-o', 'Dpkg::Options::=--force-confold', 'upgrade'],
      ['apt-get', '-y', '-q', '-o', 'Dpkg::Options::=--force-confold', 'install', 'nginx', '/var/lib/flint/packages/t.deb'],
    ]);
    expect(packageCommands('dnf', { install: ['htop'] }, [])).toEqual([['dnf', '-y', '-q', 'makecache'], ['dnf', '-y', '-q', 'install', 'htop']]);
    expect(packageCommands('zypper', { install: ['htop'], update: false }, [])).toEqual([['zypper', '--non-interactive', 'install', 'htop']]);
    expect(packageCommands('transactional-update', { install: ['htop'] }, [])).toEqual([['transactional-update', '--non-interactive', '--continue', 'pkg', 'install', 'htop']]);
    expect(packagesUnit('apt', { install: ['nginx'] }, [])).toMatch(/Wants=network-online.target\nAfter=network-online.target\nConditionPathExists=!\/var\/lib\/flint\/packages-done\n[\s\S]*Environment=DEBIAN_FRONTEND=noninteractive\nExecStart=apt-get -q update\nExecStart=apt-get -y -q -o Dpkg::Options::=--force-confold install nginx\nExecStart=touch \/var\/lib\/flint\/packages-done\n/);
    expect(packagesUnit('apt', { files: ['file:t.deb'] }, ['/var/lib/flint/packages/t.deb'])).not.toContain('network-online');
  });

  it('package files from the medium go under /var/lib/flint/packages with the unit; no package manager is a problem', () => {
    const root = makeRoot({ 'usr/bin/apt-get': '' });
    const ctx = context(root, { packages: { install: ['htop'], files: ['file:pkgs/t_1.0_all.deb'] } });
    (ctx.payloads as Map<string, Buffer>).set('file:pkgs/t_1.0_all.deb', Buffer.from('!<arch>\n'));
    const plan = applyTwice(ctx);
    expect(text(root, 'var/lib/flint/packages/t_1.0_all.deb')).toBe('!<arch>\n');
    expect(text(root, 'etc/systemd/system/flint-packages.service')).toContain('install htop /var/lib/flint/packages/t_1.0_all.deb\n');
    expect(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants/flint-packages.service'))).toBe('/etc/systemd/system/flint-packages.service');
    expect(plan.report.packages).toEqual({ manager: 'apt', install: ['htop'], files: ['t_1.0_all.deb'] });
    const none = planSteps(context(makeRoot({}), { packages: { install: ['htop'] } }), STEPS);
    expect(none.problems.map((p) => p.message)).toEqual(['the target has no package manager flint knows (transactional-update, apt-get, dnf or zypper)']);
  });

  it('names and files are checked', () => {
    expect(errors('packages: {install: ["two words"], files: ["https://x.example/a.deb", "file:a.tar"]}\n')).toEqual([
      expect.stringMatching(/^packages\.install\[0\]: "two words" is not a package name/),
      expect.stringMatching(/^packages\.files\[0\]: a package file is file: plus its path/),
      expect.stringMatching(/^packages\.files\[1\]: a package file ends in \.deb or \.rpm/),
    ]);
  });
});
