/**
 * Groups that a fresh install of a common distribution already has: Debian and
 * Ubuntu (base-passwd, systemd, udev), Raspberry Pi OS, Fedora/RHEL (setup,
 * systemd), openSUSE (system-group-*) and Arch (filesystem, systemd).
 *
 * Why: when the target's /etc/group cannot be read (validating on a PC, before
 * the medium is written), a supplementary group that the config neither
 * declares nor finds here is most likely a typo ("wheeel", "sudoers"), so the
 * validator warns about it instead of failing at first boot. Against a real
 * target the target's own /etc/group decides; this list only has to be a
 * reasonable superset of what is usually there.
 */
export const STANDARD_GROUPS: ReadonlySet<string> = new Set([
  // Traditional Unix groups and those systemd's sysusers and udev rules expect;
  // "wheel" is the admin group on Fedora, openSUSE and Arch ("sudo" on Debian).
  'root', 'bin', 'daemon', 'sys', 'adm', 'tty', 'disk', 'lp', 'mail', 'kmem',
  'wheel', 'cdrom', 'dialout', 'floppy', 'tape', 'video', 'audio', 'input',
  'render', 'kvm', 'sgx', 'users', 'utmp', 'systemd-journal', 'man', 'games',
  // Debian, Ubuntu, Raspberry Pi OS (base-passwd and common defaults).
  'sudo', 'news', 'uucp', 'proxy', 'fax', 'voice', 'dip', 'www-data', 'backup',
  'operator', 'list', 'irc', 'src', 'gnats', 'shadow', 'sasl', 'plugdev', 'staff',
  'nogroup', 'netdev', 'lpadmin', 'bluetooth', 'crontab', 'messagebus', '_ssh',
  'systemd-network', 'systemd-resolve', 'systemd-timesync', 'ssl-cert', 'sambashare',
  // Raspberry Pi OS hardware groups.
  'gpio', 'i2c', 'spi',
  // Fedora, RHEL and derivatives.
  'mem', 'ftp', 'lock', 'nobody', 'dbus', 'tss', 'utempter', 'ssh_keys',
  'systemd-coredump', 'systemd-oom', 'polkitd', 'chrony',
  // openSUSE.
  'trusted', 'sshd',
  // Arch Linux.
  'log', 'http', 'rfkill', 'uuidd', 'smmsp', 'proc', 'optical', 'storage',
  'scanner', 'power', 'network',
]);
