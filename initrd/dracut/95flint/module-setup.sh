#!/bin/bash
# dracut module "flint": runs `flint run` in the initramfs, after /sysroot is mounted and
# before the switch to it, so that a machine's first boot applies its config.
#
# flint is either /usr/lib/flint/flint, the self-contained executable (dist/flint-linux-x64
# or -arm64: node and the program in one file, needing only glibc and libstdc++), which
# wins when it is there; or /usr/lib/flint/flint.mjs (the bundle, dist/flint.mjs) with its
# optional V8 code cache flint.mjs.cache, run by the target's own node. Not included by
# default (either adds tens of MB): add it with `dracut --add flint` or
# add_dracutmodules+=" flint " in /etc/dracut.conf.d/.

flint_dir=/usr/lib/flint

# Return 255: only on request (--add flint, add_dracutmodules), never by default.
check() {
    [[ -x "${dracutsysrootdir-}${flint_dir}/flint" ]] && return 255
    [[ -f "${dracutsysrootdir-}${flint_dir}/flint.mjs" ]] || {
        derror "flint: neither ${flint_dir}/flint (self-contained) nor ${flint_dir}/flint.mjs (the bundle) is installed"
        return 1
    }
    require_binaries node || return 1
    return 255
}

depends() {
    echo systemd
    return 0
}

installkernel() {
    # Filesystems a config medium or the target may carry. Not host-only: the medium is
    # plugged into a machine this initramfs was never built on.
    hostonly='' instmods vfat fat exfat iso9660 isofs udf btrfs ext4 xfs \
        nls_cp437 nls_iso8859-1 nls_utf8 nls_ascii
    # USB sticks and card readers, SD cards, virtual machines (virtio, QEMU fw_cfg).
    hostonly='' instmods usb_storage uas sd_mod sr_mod \
        xhci_pci xhci_hcd ehci_pci ehci_hcd ohci_pci uhci_hcd \
        mmc_block sdhci sdhci_pci sdhci_acpi sdhci-of-arasan sdhci_iproc =drivers/mmc/host \
        virtio_blk virtio_scsi virtio_pci virtio_net qemu_fw_cfg
    return 0
}

# Distribution builds of node (Debian's among them) load some of their own JavaScript
# (cjs-module-lexer, undici, acorn, ...) from /usr/share/nodejs at start-up, and abort
# without it. The paths are compiled into node or libnode: read them from there.
flint_node_shared_builtins() {
    local node_bin=$1 lib name _arrow path _rest
    {
        printf '%s\n' "$node_bin"
        ldd "${dracutsysrootdir-}$node_bin" 2>/dev/null | while read -r name _arrow path _rest; do
            [[ $name == libnode.so* && -n $path ]] && printf '%s\n' "${path#"${dracutsysrootdir-}"}"
        done
    } | while read -r lib; do
        grep -aoE '/usr/share/nodejs/[A-Za-z0-9_./@-]+\.(js|mjs|cjs)' "${dracutsysrootdir-}$lib"
    done | sort -u
}

flint_install_node_and_bundle() {
    # The unit starts /usr/bin/node, wherever the target keeps its node.
    local node_bin f
    node_bin=$(find_binary node)
    inst_binary "$node_bin" /usr/bin/node
    for f in $(flint_node_shared_builtins "$node_bin"); do
        [[ -f "${dracutsysrootdir-}$f" ]] && inst_simple "$f"
    done
    inst_simple "${flint_dir}/flint.mjs"
    [[ -f "${dracutsysrootdir-}${flint_dir}/flint.mjs.cache" ]] && inst_simple "${flint_dir}/flint.mjs.cache"
}

install() {
    if [[ -x "${dracutsysrootdir-}${flint_dir}/flint" ]]; then
        # inst_binary brings the C library and libstdc++ it links, from the image itself.
        inst_binary "${flint_dir}/flint"
        inst_simple "${moddir}/flint-self-contained.conf" "${systemdsystemunitdir}/flint.service.d/50-self-contained.conf"
    else
        flint_install_node_and_bundle
    fi

    # Every program flint starts (src/system/programs.ts; test/unit/programs.test.ts holds
    # this list to it). Discovery: blkid, mount, umount, mcopy (FAT), xorriso (iso9660).
    # Snapshots, storage, Combustion scripts, write-back: the rest.
    inst_multiple blkid mount umount chroot modprobe systemctl
    inst_multiple -o mcopy mlabel minfo xorriso findmnt lsblk losetup \
        btrfs mkfs.btrfs mkfs.ext4 mke2fs e2fsck resize2fs dumpe2fs mkfs.xfs xfs_growfs xfs_info xfs_repair \
        mkfs.vfat mkfs.fat mkfs.exfat mkswap swapon sfdisk sgdisk partx growpart wipefs \
        ssh-keygen cp rm mv ln cat test sync blockdev udevadm sh bash

    # mtools converts FAT names through iconv (code page 850 by default): without glibc's
    # gconv modules, writing RESULT.txt back to a FAT stick fails.
    inst_libdir_file "gconv/gconv-modules" "gconv/gconv-modules.cache" "gconv/gconv-modules.d/*.conf" \
        "gconv/IBM850.so" "gconv/IBM437.so" "gconv/ISO8859-1.so" "gconv/ISO8859-15.so" "gconv/UTF-16.so" "gconv/UTF-32.so"

    # Trust anchors for signed configs (docs/signing.md): with them the default policy is
    # flint.trust=required. Taken from the image's /etc/flint/trust/ when it has any.
    local anchor
    for anchor in "${dracutsysrootdir-}"/etc/flint/trust/*.pem; do
        [[ -f $anchor ]] && inst_simple "${anchor#"${dracutsysrootdir-}"}"
    done

    inst_simple "${moddir}/flint.service" "${systemdsystemunitdir}/flint.service"
    # systemd#28718: without this, initrd-parse-etc can carry on to the switch root while
    # the emergency target that flint's failure started is coming up.
    inst_simple "${moddir}/initrd-parse-etc-conflicts.conf" \
        "${systemdsystemunitdir}/initrd-parse-etc.service.d/50-flint-emergency.conf"
    # Wanted by initrd.target in the unit folder itself (systemctl add-wants would put the
    # link into /etc, where a host-only /etc/systemd of the initramfs could hide it).
    mkdir -p "${initdir}${systemdsystemunitdir}/initrd.target.wants"
    ln_r "${systemdsystemunitdir}/flint.service" "${systemdsystemunitdir}/initrd.target.wants/flint.service"
}
