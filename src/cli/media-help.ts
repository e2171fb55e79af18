/** Help for drive, image and init, apart from the commands: `flint help` must not load them. */

export const driveHelp = `Usage: flint drive create CONFIG -o FILE [--for ENGINE] [--label NAME] [--size SIZE] [--iso]
       flint drive write CONFIG DEVICE [--for ENGINE] [--label NAME] [--yes] [--force]
       ... [--sign --key KEY.pem --cert CERT.pem [--chain CA.pem] [--passphrase-stdin]]

Make a config medium that "flint run" finds at first boot: a filesystem labelled
FLINT holding flint/config.yaml and every payload the config names (file: sources,
container image archives, script files), at the same paths relative to the config.
The config is validated first; every plain-text user password is replaced by its
SHA-512 crypt hash (password_hash) before anything is written, so no plain-text
password reaches the medium. Comments and layout of the config are kept. An Ignition
config, a cloud-init user-data file or seed folder, or a Combustion script (with the
files in its folder) is converted to a flint config first, as "flint convert" does.

With --for ignition or --for cloud-init the medium is for the engine a stock image
already runs, rendered from the flint CONFIG as "flint convert --to" prints it:
ignition/config.ign on a stick labelled IGNITION, or a NoCloud seed (user-data,
meta-data, network-config) on a stick labelled CIDATA. Every setting that engine
cannot express is listed first, at its line in CONFIG; --strict then writes nothing.
With --for combustion the stick (labelled COMBUSTION) is for an image that runs
Combustion, such as a stock openSUSE MicroOS: combustion/script runs the
self-contained flint it carries (combustion/flint-linux-x64, -arm64, about 88 MB
each; --arch chooses) on combustion/flint/config.yaml, so nothing is lost, and
flint's exit status makes Combustion roll its snapshot back on failure.

With --sign the stick also carries flint/config.yaml.sig, a signature over the
config as written there and its payloads (docs/signing.md), which a machine with
flint.trust=required checks before it applies anything.

  create   build an image file: FAT32 made with mkfs.fat and mtools (no root, no
           loop device), sized to fit; or ISO 9660 with --iso (xorriso), e.g. for VMs
  write    build the FAT32 image and write it to a whole removable disk (a USB
           stick, an SD card), with progress

Options:
  -o, --output FILE   the image to create (create)
  --for ENGINE        flint (default), ignition, cloud-init or combustion
  --arch ARCH         x86_64, aarch64 or both (default): the flint a Combustion stick carries
  --sign              sign the config and payloads (flint sticks); with --key, --cert,
                      --chain and --passphrase-stdin as for "flint sign"
  --strict            write nothing when a setting would be lost (--for ignition|cloud-init)
  --host H            render one hosts: entry (index, MAC, serial or machine UUID)
  --ignition-version V  pin the Ignition spec version (default 3.3.0, newer when needed)
  --label NAME        filesystem label (default FLINT, IGNITION, CIDATA or COMBUSTION after --for)
  --size SIZE         force the FAT image size, e.g. 64MiB (at least 40MiB)
  --iso               ISO 9660 instead of FAT32 (create)
  -y, --yes           write without asking (write)
  --force             write even to a disk that is not removable, is mounted or holds
                      the running system (write)
  -h, --help          show this help

Exit status: 0 done, 1 the config is invalid, a payload is missing, --strict and a
setting would be lost, or the disk was refused or could not be written, 2 usage error.`;

export const imageHelp = `Usage: flint image apply DISK.img CONFIG [--scripts] [--mac MAC] [--json]
       flint image embed DISK.img CONFIG [--for flint|cloud-init] [--strict] [--host H]
       flint image enable DISK.img [--arch x86_64|aarch64] [--flint FILE] [--trust CA.pem]

  apply   provision a raw disk image offline: attach it (losetup -P), find its root
          filesystem (GPT partition label root/rootfs/system or the root partition
          type, else the Linux filesystem holding etc/fstab; on btrfs the default
          subvolume), mount it and the image's other filesystems from its fstab,
          apply CONFIG exactly as "flint apply" does, then unmount and detach,
          also on failure. The image then boots already configured. Scripts run
          only with --scripts. Needs root. qcow2 and other formats: convert first
          (qemu-img convert -O raw DISK.qcow2 DISK.img).
  embed   write CONFIG as flint.yaml (with its payloads beside it) onto the image's
          own FAT boot partition with mtools at the partition's offset (no root, no
          mount): one SD card carries image and config, and "flint run" finds it
          there at first boot. Plain-text passwords are hashed first; another
          tool's config is converted first, as for drive create. With
          --for cloud-init the config is rendered as a NoCloud seed (user-data,
          meta-data, network-config) at the top of that partition instead, where
          Raspberry Pi OS and Ubuntu for Raspberry Pi read it; losses are listed
          first and --strict writes nothing when there are any. Without --for the
          image's ext4 root is read (debugfs, no mount): flint's, Ignition's or
          Combustion's dracut module, or /etc/cloud/cloud.cfg, choose the engine,
          and the choice is printed; a root flint cannot read (btrfs, xfs) gets
          flint.yaml. Ignition and Combustion images are refused: make a stick.
  enable  make a stock image run flint itself at its first boot: add the
          self-contained flint (dist/flint-linux-x64 or -arm64, about 88 MB) and
          what starts it. Where the image has dracut and systemd, flint's dracut
          module goes in and the image's own dracut rebuilds each initramfs in a
          chroot (qemu-user for a foreign architecture); flint then runs before
          the root is used. Otherwise (initramfs-tools, as on Debian and Raspberry
          Pi OS, or no initramfs) flint-firstboot.service runs it in the booted
          root, once, before the network and sshd. Images
          without systemd are refused. The way and the reason are printed; a
          second run changes nothing; nothing else in the image changes. Needs
          root.

Options:
  --scripts            also run the config's post scripts, chrooted in the image (apply)
  --mac MAC            for hosts: matching, the machine's MAC address(es), comma-separated (apply)
  --serial SERIAL      for hosts: matching, the machine's serial number (apply)
  --machine-uuid UUID  for hosts: matching, the machine's DMI product UUID (apply)
  --json               print the result as JSON (apply, enable)
  --for ENGINE         flint (default) or cloud-init (embed)
  --strict             write nothing when a setting would be lost (embed --for cloud-init)
  --host H             render one hosts: entry: index, MAC, serial or machine UUID (embed)
  --arch ARCH          x86_64 or aarch64: refuse an image of another one (enable; default: the image's)
  --flint FILE         the self-contained flint to add (enable; default: beside this flint)
  --trust A.pem,B.pem  trusted certificates for signed configs, into /etc/flint/trust (enable)
  -h, --help           show this help

Exit status: 0 done, 1 the config is invalid or does not fit the image, applying
failed (rolled back), or the image has no usable root or FAT partition, 2 usage error.`;

export const initHelp = `Usage: flint init [-o FILE] [options]

Write a new, commented config with the $schema line, asking a few questions on a
terminal (user name, SSH key from ~/.ssh/*.pub, password, host name, time zone,
keymap, Wi-Fi, static address or DHCP), or from the options alone with --yes.
The result is validated before it is written. A password is stored only as its
SHA-512 crypt hash.

Options:
  -o, --output FILE      where to write (default flint.yaml; "-" for stdout)
  --user NAME            the administrator's login name (default admin)
  --ssh-key FILE         a public key file for the user (e.g. ~/.ssh/id_ed25519.pub)
  --password-hash-stdin  read the user's password as a ready crypt hash (openssl passwd -6) from stdin
  --password-stdin       read the password from standard input and hash it
  --hostname NAME        host name
  --timezone ZONE        IANA time zone, e.g. Europe/Berlin
  --keymap MAP           console keymap, e.g. de-nodeadkeys
  --wifi-ssid SSID       Wi-Fi network name
  --wifi-password-stdin  read the Wi-Fi passphrase from standard input
                         (a second line when --password-stdin is given too)
  --wifi-country CC      Wi-Fi regulatory country, e.g. DE
  --interface NAME       the wired interface (default: any ethernet interface)
  --address CIDR         a static IPv4 address, e.g. 192.168.1.20/24 (default DHCP)
  --gateway IP           the static gateway
  --dns IP[,IP...]       DNS servers for the static address
  -y, --yes              ask nothing: use the options and defaults
  --force                overwrite an existing output file
  -h, --help             show this help

Exit status: 0 written, 1 the result would not be valid, 2 usage error.`;
