/**
 * A Debian 13 (trixie) root with Podman 5, whose Quadlet generator is the oracle for the
 * .container files flint writes. Built and cached like the Debian 12 root (see
 * rootfs.ts); the first build downloads Podman and its dependencies and takes minutes.
 */
import { RECIPE } from './rootfs.js';
import type { RootRecipe } from './rootfs.js';

export const TRIXIE_PODMAN: RootRecipe = {
  ...RECIPE,
  suite: 'trixie',
  // openssh-server stays: the shared build step expects /etc/ssh.
  include: ['openssh-server', 'passwd', 'podman', 'systemd'],
  locales: [],
};
