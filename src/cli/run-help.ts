/** Help for `flint run`, apart from the command: `flint help` must not load the engine. */

export const runHelp = `Usage: flint run [options]

The first-boot runner the initramfs starts. When the target's /etc/machine-id is
missing, empty or "uninitialized" and flint has not configured it yet
(/etc/.flint-result.json), or flint.firstboot, ignition.firstboot or
combustion.firstboot is on the kernel command line, it looks for a config, in order:
  1. the kernel command line: flint.config= (LABEL=NAME:/path, or an https:// URL
     checked against flint.config.sha512= when given; {mac}, {serial}, {uuid} and
     {hostname} in it are this machine's, docs/fleet.md), else ignition.config.url=,
     else combustion.url= (https only)
  2. QEMU fw_cfg: opt/flint/config, opt/com.coreos/config (Ignition),
     opt/org.opensuse.combustion/script
  3. a filesystem labelled flint, combustion, ignition, cidata or install (any case),
     with, in this order, flint/config.yaml (.yml, .json), ignition/config.ign,
     combustion/script, or a NoCloud seed (user-data, meta-data, network-config)
  4. flint.yaml in the target's boot/firmware, boot or boot/efi folder, or on a FAT
     partition of the target's disk
Ignition, cloud-init and Combustion configs are converted (see flint convert).
It waits for late devices (flint.timeout=SECONDS; default 10 s, 30 s on
aarch64), copies the config's folder to the work folder and applies it all or nothing:
on a btrfs root with snapper's layout (openSUSE MicroOS) into a new snapshot that
becomes the default only on success, else under the journal. Scripts (scripts: and
Combustion's) run as Combustion runs them; a failing script undoes the apply.
After success: a summary on the console, and RESULT.txt and result.json written back
to the config's folder on the medium when it is writable; on openSUSE images
/var/lib/YaST2/reconfig_system is removed (as Combustion does), so the jeos-firstboot
wizard does not wait on the console.

Options:
  --sysroot DIR   the target root (default /sysroot)
  --cmdline FILE  the kernel command line (default /proc/cmdline)
  --fw-cfg DIR    QEMU fw_cfg in sysfs (default /sys/firmware/qemu_fw_cfg)
  --sys DIR       sysfs, for block devices and the machine's MACs, serial, UUID (default /sys)
  --work DIR      where the config is copied to, in RAM (default /run/flint)
  --trust-dir DIR trusted certificates for signed configs (default /etc/flint/trust)
  --booted        run in the booted system, as flint-firstboot.service does on an
                  image flint image enable gave a first-boot unit: the root is /,
                  the first boot is the one without /etc/.flint-result.json and
                  /var/lib/flint/first-boot-without-config (written when it
                  finds no config), and changes go in place under the journal
                  (no snapshot)
  --json          print the apply result as JSON
  -h, --help      show this help

Kernel command line: flint.config=, flint.config.sha512=, flint.config.deadline=
(seconds a config URL is asked for, retries included; default 300), flint.timeout=,
flint.require=1 (no config found is an error), flint.trust=required|optional|off
(signed configs, docs/signing.md; default required when --trust-dir holds *.pem,
else off), flint.firstboot, flint.report=0 (write
nothing back to the medium), flint.on_failure=continue (a failure boots on,
unconfigured), flint.trace=1 (a line with the time for every program flint starts and
every phase: where a slow first boot spends it), ignition.config.url=, combustion.url=. Scripts that need the network
need rd.neednet=1.

Exit status: 0 applied, nothing to do, not the first boot, no config found, or a
failure with flint.on_failure=continue; 1 no config with flint.require=1, the config
is invalid, its signature was refused or applying failed (the root is as before), 2 usage error.`;
