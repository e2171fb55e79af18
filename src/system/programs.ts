/**
 * Every program flint starts, in one table (as Ignition's distro.go keeps its own): the
 * Debian package that has it, for "install it" messages, and where flint runs it, so the
 * dracut module can be held to installing every program the initramfs run needs
 * (test/unit/programs.test.ts). exec() takes only names from this table.
 *
 * where: initramfs: the first boot in the initramfs (flint's dracut module installs it);
 * network: the initramfs network (dracut's network modules bring it, when in_initrd is
 * used); booted: `flint run --booted` in the running system; workstation: the media,
 * image and fleet commands on a person's machine.
 */
type Where = 'initramfs' | 'network' | 'booted' | 'workstation';

interface ProgramInfo {
  debian: string;
  where: readonly Where[];
}

const FIRST_BOOT: readonly Where[] = ['initramfs', 'booted', 'workstation'];

export const PROGRAMS = {
  // Discovery of the config medium, and writing the result back to it.
  blkid: { debian: 'util-linux', where: FIRST_BOOT },
  mount: { debian: 'mount', where: FIRST_BOOT },
  umount: { debian: 'mount', where: FIRST_BOOT },
  findmnt: { debian: 'util-linux', where: FIRST_BOOT },
  mcopy: { debian: 'mtools', where: FIRST_BOOT },
  xorriso: { debian: 'xorriso', where: FIRST_BOOT },
  // Storage: tables, filesystems, growing the root.
  sfdisk: { debian: 'fdisk', where: FIRST_BOOT },
  partx: { debian: 'util-linux', where: FIRST_BOOT },
  wipefs: { debian: 'util-linux', where: FIRST_BOOT },
  losetup: { debian: 'mount', where: FIRST_BOOT },
  'mkfs.btrfs': { debian: 'btrfs-progs', where: FIRST_BOOT },
  'mkfs.ext4': { debian: 'e2fsprogs', where: FIRST_BOOT },
  'mkfs.xfs': { debian: 'xfsprogs', where: FIRST_BOOT },
  'mkfs.vfat': { debian: 'dosfstools', where: FIRST_BOOT },
  mkswap: { debian: 'util-linux', where: FIRST_BOOT },
  resize2fs: { debian: 'e2fsprogs', where: FIRST_BOOT },
  xfs_growfs: { debian: 'xfsprogs', where: FIRST_BOOT },
  dumpe2fs: { debian: 'e2fsprogs', where: FIRST_BOOT },
  xfs_info: { debian: 'xfsprogs', where: FIRST_BOOT },
  cp: { debian: 'coreutils', where: FIRST_BOOT },
  sync: { debian: 'coreutils', where: FIRST_BOOT },
  // Snapshots (btrfs, snapper's layout) and scripts.
  btrfs: { debian: 'btrfs-progs', where: FIRST_BOOT },
  chroot: { debian: 'coreutils', where: FIRST_BOOT },
  '/bin/sh': { debian: 'dash', where: FIRST_BOOT },
  systemctl: { debian: 'systemd', where: ['initramfs', 'booted'] },
  // The initramfs network (network.in_initrd).
  ip: { debian: 'iproute2', where: ['network'] },
  nmcli: { debian: 'network-manager', where: ['network'] },
  // Making and reading config media and disk images.
  'mkfs.fat': { debian: 'dosfstools', where: ['workstation'] },
  mtype: { debian: 'mtools', where: ['workstation'] },
  debugfs: { debian: 'e2fsprogs', where: ['workstation'] },
} as const satisfies Record<string, ProgramInfo>;

export type Program = keyof typeof PROGRAMS;

/** "apt-get install PACKAGE" for a program that is missing. */
export function installHint(p: Program): string {
  return `apt-get install ${PROGRAMS[p].debian}`;
}
