/**
 * What the VM scenarios share: the configs, the SSH key, the disk checks from outside,
 * and the console timeline. The test (firstboot.test.ts) and `npm run demo:vm` use them.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { attachPartition, sh } from './host.js';
import type { ConsoleLine } from './qemu.js';
import { GUEST_MAC, LOGIN_RE } from './qemu.js';
import { TEST_IMAGE } from './container-image.js';

export const STATIC_ADDRESS = '10.0.2.15/24';
export const GATEWAY = '10.0.2.2';

/** A fresh ed25519 key pair in dir; returns the private key's path and the public key. */
export async function makeKey(dir: string): Promise<{ key: string; pub: string }> {
  const key = path.join(dir, 'id_ed25519');
  await fs.rm(key, { force: true });
  await fs.rm(`${key}.pub`, { force: true });
  await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'flint-vm-test', '-f', key]);
  return { key, pub: (await fs.readFile(`${key}.pub`, 'utf8')).trim() };
}

export const HELLO_UNIT = 'flint-hello.service';

/** Scenario 1: everything a container host needs, as the README example, on QEMU's net. */
export function fullConfig(pub: string): string {
  return `# The VM test's full config (test/vm/scenarios.ts).
version: 1
hostname: vm-full
timezone: Europe/Berlin
users:
  - name: ops
    groups: [sudo, adm]
    sudo: nopasswd
    shell: /bin/bash
    ssh_authorized_keys:
      - ${pub}
ssh:
  host_keys: generate
  password_authentication: false
network:
  renderer: networkmanager
  connections:
    - name: lan
      type: ethernet
      mac: "${GUEST_MAC}"
      ipv4:
        method: static
        addresses: [${STATIC_ADDRESS}]
        gateway: ${GATEWAY}
        dns: [10.0.2.3]
      ipv6:
        method: disabled
storage:
  grow_root: true
  disks:
    - device: root
      partitions:
        - label: var
          size: 1GiB
          type: var
  filesystems:
    - partlabel: var
      format: btrfs
      label: var
      mount: /var
      copy_existing: true
systemd:
  units:
    - name: ${HELLO_UNIT}
      contents: |
        [Unit]
        Description=Says hello once per boot

        [Service]
        Type=oneshot
        RemainAfterExit=yes
        ExecStart=/usr/bin/touch /run/flint-hello

        [Install]
        WantedBy=multi-user.target
      enabled: true
containers:
  - name: box
    image: ${TEST_IMAGE}
    image_archive: images/busybox.tar
    command: [/bin/sleep, infinity]
    restart: always
`;
}

/** Scenario 5: the smallest useful config, given through QEMU fw_cfg. */
export function fwCfgConfig(pub: string): string {
  return `version: 1
hostname: vm-fwcfg
users:
  - name: ops
    sudo: nopasswd
    ssh_authorized_keys:
      - ${pub}
ssh:
  host_keys: generate
`;
}

/** Scenario 4: a misspelt key; flint must stop the boot and change nothing. */
export function brokenConfig(pub: string): string {
  return `version: 1
hostname: vm-broken
users:
  - name: ops
    sudo: nopasswd
    ssh_authorised_keys:
      - ${pub}
`;
}

/** Scenario 2: Combustion's README example (user + key), plus a host name. */
export function combustionScript(pub: string): string {
  return `#!/bin/bash
# combustion: prepare
# (the prepare marker: Combustion runs this once more before the root is mounted)
set -euo pipefail
if [ "\${1-}" = "--prepare" ]; then
  exit 0
fi
useradd -m -G sudo -s /bin/bash tux
mkdir -pm700 /home/tux/.ssh
echo '${pub}' > /home/tux/.ssh/authorized_keys
chown -R tux:tux /home/tux/.ssh
echo 'tux ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/tux
chmod 0440 /etc/sudoers.d/tux
echo vm-combustion > /etc/hostname
echo "made by combustion" > /etc/combustion-ran
`;
}

export interface RootState {
  /** The default subvolume's path, e.g. @/.snapshots/1/snapshot. */
  defaultSubvolume: string;
  /** sha256 over every path, mode, owner and content under its /etc and /home. */
  etcHomeDigest: string;
  /** Every subvolume's path. */
  subvolumes: string[];
  /** The default subvolume's /etc/machine-id. */
  machineId: string;
  /** Whether the default subvolume has flint's done marker. */
  flintDone: boolean;
}

/** What a tree holds, as one hash: paths, types, modes, owners, contents, link targets. */
async function treeDigest(root: string, dirs: readonly string[]): Promise<string> {
  const h = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    const p = path.join(root, rel);
    const st = await fs.lstat(p);
    h.update(`${rel}\0${st.mode}\0${st.uid}:${st.gid}\0`);
    if (st.isSymbolicLink()) h.update(await fs.readlink(p));
    else if (st.isFile()) h.update(await fs.readFile(p));
    else if (st.isDirectory()) for (const e of (await fs.readdir(p)).sort()) await walk(path.join(rel, e));
    h.update('\n');
  };
  for (const d of dirs) await walk(d);
  return h.digest('hex');
}

/** The btrfs root of a (powered-off) guest disk, seen from outside (the default subvolume). */
export async function rootState(disk: string, mnt: string): Promise<RootState> {
  const part = await attachPartition(disk, 1);
  await fs.mkdir(mnt, { recursive: true });
  try {
    await sh('mount', ['-o', 'ro', '-t', 'btrfs', part.dev, mnt]);
    try {
      const def = await sh('btrfs', ['subvolume', 'get-default', mnt]);
      const defaultSubvolume = / path (\S+)/.exec(def)?.[1] ?? `? ${def}`;
      const list = (await sh('btrfs', ['subvolume', 'list', mnt])).split('\n');
      const subvolumes = list.map((l) => / path (\S+)$/.exec(l)?.[1]).filter((p): p is string => p !== undefined);
      const etcHomeDigest = await treeDigest(mnt, ['etc', 'home']);
      const machineId = await fs.readFile(path.join(mnt, 'etc/machine-id'), 'utf8').catch(() => '(missing)');
      const flintDone = await fs.access(path.join(mnt, 'etc/.flint-result.json')).then(
        () => true,
        () => false,
      );
      return { defaultSubvolume, etcHomeDigest, subvolumes, machineId: machineId.trim(), flintDone };
    } finally {
      await sh('umount', [mnt]);
    }
  } finally {
    await part.detach();
  }
}

export interface Timeline {
  /** Milliseconds since QEMU started, as the console lines arrived on the host. */
  flintStarted?: number;
  flintFinished?: number;
  login?: number;
  /** The guest kernel's clock (seconds since it started) on flint's first and last console line. */
  flintFirstLineKernel?: number;
  flintLastLineKernel?: number;
  /** flint.trace=1's lines, each with the guest kernel's clock in front. */
  trace?: string[];
  /** flint's own numbers from result.json (milliseconds). */
  report?: unknown;
}

const at = (lines: readonly ConsoleLine[], re: RegExp) => lines.find((l) => re.test(l.text))?.at;

/** "[  105.086109] node[419]: flint: ..." -> 105.086109 */
function kernelTimes(lines: readonly ConsoleLine[]): number[] {
  return lines.flatMap((l) => {
    const m = /^\[\s*(\d+\.\d+)\] node\[\d+\]: /.exec(l.text);
    return m?.[1] !== undefined ? [Number(m[1])] : [];
  });
}

export function consoleTimeline(lines: readonly ConsoleLine[]): Timeline {
  const k = kernelTimes(lines);
  return {
    flintStarted: at(lines, /Starting .*flint\.service/),
    flintFinished: at(lines, /Finished .*flint\.service/),
    login: at(lines, LOGIN_RE),
    flintFirstLineKernel: k[0],
    flintLastLineKernel: k.at(-1),
    // flint.trace=1 lines: the guest kernel's clock, the time since node started, what, and how long it took.
    trace: lines.flatMap((l) => {
      const m = /^\[\s*(\d+\.\d+)\].*flint: trace (\+\d+ ms: .*)$/.exec(l.text);
      return m?.[2] !== undefined ? [`${m[1]!} ${m[2]}`] : [];
    }),
  };
}
