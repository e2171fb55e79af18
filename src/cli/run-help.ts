/** Help for `flint run`, apart from the command: `flint help` must not load the engine. */

export const runHelp = `Usage: flint run [options]

The first-boot runner the initramfs starts. When the target's /etc/machine-id is
missing, empty or "uninitialized" (or flint.firstboot, ignition.firstboot or
combustion.firstboot is on the kernel command line), it looks for a config, in order:
  1. flint.config= on the kernel command line: LABEL=NAME:/path, or an https:// URL
     (checked against flint.config.sha512= when given)
  2. QEMU fw_cfg opt/flint/config
  3. a filesystem labelled flint, combustion, ignition, cidata or install (any case),
     with flint/config.yaml (.yml, .json) on it
  4. flint.yaml in the target's boot/firmware, boot or boot/efi folder
It waits for late devices (flint.timeout=SECONDS; default 10 s, 30 s on aarch64),
mounts a medium read-only, copies the config's folder to the work folder, unmounts it,
and applies the config to the target as "flint apply" does, all or nothing.

Options:
  --sysroot DIR   the target root (default /sysroot)
  --cmdline FILE  the kernel command line (default /proc/cmdline)
  --fw-cfg DIR    QEMU fw_cfg in sysfs (default /sys/firmware/qemu_fw_cfg)
  --sys DIR       sysfs, for block devices and the machine's MACs, serial, UUID (default /sys)
  --work DIR      where the config is copied to (default /run/flint)
  --json          print the apply result as JSON
  -h, --help      show this help

Kernel command line: flint.config=, flint.config.sha512=, flint.timeout=,
flint.require=1 (no config found is an error), flint.firstboot.

Exit status: 0 applied, nothing to do, not the first boot, or no config found;
1 no config with flint.require=1, the config is invalid or applying failed (nothing
was changed), 2 usage error.`;
