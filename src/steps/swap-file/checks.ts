/**
 * Checks of swap_file: an absolute path on the machine's disk, a fixed size of at least 1 MiB.
 * Run with the other semantic checks (src/config/semantic.ts): config-layer code kept
 * beside the step, so it imports nothing above src/config.
 */
import { parseSize } from '../../config/checks/names.js';
import { isObj } from '../../config/checks/read.js';
import type { Obj, Sink } from '../../config/checks/read.js';

export function check(cfg: Obj, r: Sink): void {
  if (isObj(cfg.swap_file)) checkSwapFile(cfg.swap_file, r);
}

function checkSwapFile(sf: Obj, r: Sink): void {
  if (typeof sf.path === 'string') {
    const p = sf.path;
    if (!p.startsWith('/') || p.endsWith('/') || p.split('/').some((s) => s === '..' || s === '.') || p.includes('//')) r.error(['swap_file', 'path'], 'swap-path', 'the swap file path is an absolute path to a file, e.g. /swapfile or /var/swapfile');
    else if (/^\/(proc|sys|dev|run|tmp|boot)(\/|$)/.test(p)) r.error(['swap_file', 'path'], 'swap-path', `${p} is on a filesystem that is not the machine's disk (or is its boot partition)`, 'put it on the root filesystem or /var, e.g. /swapfile');
  }
  if (typeof sf.size === 'string') {
    const s = parseSize(sf.size);
    if ('percent' in s) r.error(['swap_file', 'size'], 'swap-size', 'a swap file has a fixed size, not a share of the disk', 'write a size such as 2GiB');
    else if ('bytes' in s) {
      if (s.bytes < 1024n * 1024n) r.error(['swap_file', 'size'], 'swap-size', 'a swap file needs at least 1MiB', 'write a size such as 512MiB or 2GiB');
    } else r.problem(['swap_file', 'size'], 'size', s);
  }
}
