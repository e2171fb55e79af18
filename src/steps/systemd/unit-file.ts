/**
 * Units that flint itself writes for a setting that has to act on the booted system
 * (a swap file made at the first boot, a power action after it): the unit file in
 * /etc/systemd/system and the link `systemctl enable` would make for its WantedBy=.
 */
import type { Action } from '../../engine/actions.js';

/** systemd-escape --path: "/" between components becomes "-", anything but [A-Za-z0-9:_.] becomes \xNN. */
export function escapeUnitPath(path: string): string {
  const trimmed = path.replace(/^\/+|\/+$/g, '').replace(/\/+/g, '/');
  if (trimmed === '') return '-';
  return trimmed
    .split('/')
    .map((seg) => [...Buffer.from(seg, 'utf8')].map((b, k) => (/[A-Za-z0-9:_]/.test(String.fromCharCode(b)) || (b === 0x2e && k > 0) ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join(''))
    .join('-');
}

/** A word for an Exec line: quoted as systemd splits it, with % and $ taken literally. */
export function execWord(s: string): string {
  const lit = s.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /^[A-Za-z0-9_./=:,+@-]+$/.test(lit) ? lit : `"${lit.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

export function enabledUnit(name: string, contents: string, wantedBy: string, step: string, why: string): Action[] {
  return [
    { kind: 'file', path: `/etc/systemd/system/${name}`, data: Buffer.from(contents), mode: 0o644, uid: 0, gid: 0, step, why },
    { kind: 'symlink', path: `/etc/systemd/system/${wantedBy}.wants/${name}`, target: `/etc/systemd/system/${name}`, uid: 0, gid: 0, step, why: `${why} (enabled)` },
  ];
}
