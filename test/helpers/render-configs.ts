/**
 * Shared by the round-trip tests of the renderers: generated flint configs (seeded, the
 * same on every machine), deleting the paths a rendering reports as lost, and the
 * validated form of a config text.
 */
import { expect } from 'vitest';
import { stringify } from 'yaml';
import type { PathSeg } from '../../src/config/diagnostics.js';
import { validateText } from '../../src/config/validate.js';
import type { FlintConfig } from '../../src/config/validate.js';
import { rng } from '../unit/mutate.js';

export const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA2W4ylBpNwsCJJgCIJv6S+GBdb8LJg1OwHVwgsBw43P admin@laptop';
export const HASH = '$6$OracleSalt1$Czqcp6Yi60Rjk7IfBxjelcb5QX0W/ipCQjtQM0WgOpgY0G259JsHVT2rmdyjJzh3D0uVpNb42y5s6e26wy7ae/';

/** A fixed "hash" for plain passwords, so renderings are reproducible. */
export const fixedHash = (): string => HASH;

export function validated(text: string, file = 'c.yaml'): FlintConfig {
  const v = validateText(file, text);
  expect(v.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return v.config!;
}

/** Parses a loss path as formatPath prints it ("users[0].sudo") back into segments. */
export function parsePath(p: string): PathSeg[] {
  const out: PathSeg[] = [];
  for (const m of p.matchAll(/([A-Za-z_$][\w$-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]/g)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(JSON.parse(`"${m[3]!}"`) as string);
  }
  return out;
}

/** A deep copy of VALUE without the given paths; list entries removed at once so indexes stay right. */
export function without(value: unknown, paths: readonly PathSeg[][]): unknown {
  const copy = structuredClone(value) as Record<string, unknown>;
  const removeAt = new Map<unknown, Set<PathSeg>>();
  for (const p of paths) {
    let node: unknown = copy;
    for (const seg of p.slice(0, -1)) node = (node as Record<string | number, unknown> | undefined)?.[seg];
    if (node === undefined || node === null) continue;
    const set = removeAt.get(node) ?? new Set<PathSeg>();
    set.add(p[p.length - 1]!);
    removeAt.set(node, set);
  }
  for (const [node, keys] of removeAt) {
    if (Array.isArray(node)) {
      const keep = node.filter((_, i) => !keys.has(i));
      node.length = 0;
      node.push(...keep);
    } else for (const k of keys) delete (node as Record<string | number, unknown>)[k];
  }
  return copy;
}

const pick = <T>(r: (n: number) => number, xs: readonly T[]): T => xs[r(xs.length)]!;

/** A flint config text with a random selection of the settings the renderers handle. */
export function generatedConfig(seed: number): string {
  const r = rng(seed * 7919 + 1);
  const c: Record<string, unknown> = { version: 1 };
  if (r(2) === 0) c.hostname = pick(r, ['node', 'pi-kitchen', 'web.example.org']);
  if (r(2) === 0) c.timezone = pick(r, ['UTC', 'Europe/Berlin']);
  if (r(3) === 0) c.locale = 'en_US.UTF-8';
  if (r(3) === 0) c.keymap = pick(r, ['us', 'de-nodeadkeys']);
  if (r(2) === 0) c.groups = [{ name: 'media', ...(r(2) === 0 ? { gid: 2000 + r(100) } : {}), ...(r(3) === 0 ? { system: true } : {}) }];
  const users: Array<Record<string, unknown>> = [];
  for (let i = 0; i < r(3); i++) {
    const u: Record<string, unknown> = { name: `user${i}` };
    if (r(2) === 0) u.ssh_authorized_keys = [KEY];
    if (r(2) === 0) u.sudo = pick(r, ['nopasswd', 'password', 'none']);
    if (r(2) === 0) u.password_hash = HASH;
    else if (r(3) === 0) u.password = 'correct horse battery';
    if (r(3) === 0) u.shell = '/bin/bash';
    if (r(3) === 0) u.gecos = 'A user';
    if (r(3) === 0) u.uid = 1500 + i;
    if (c.groups !== undefined && r(2) === 0) u.groups = ['media'];
    users.push(u);
  }
  if (r(3) === 0) users.push({ name: 'root', password_hash: '!' });
  if (users.length > 0) c.users = users;
  if (r(2) === 0) c.ssh = { password_authentication: r(2) === 0, ...(r(2) === 0 ? { permit_root_login: pick(r, ['no', 'prohibit-password']) } : {}) };
  if (r(2) === 0) {
    const conns: Array<Record<string, unknown>> = [];
    if (r(2) === 0) conns.push({ name: 'lan', type: 'ethernet', interface: 'eth0', ipv4: { method: 'static', addresses: ['192.168.1.20/24'], gateway: '192.168.1.1', dns: ['9.9.9.9'] } });
    else conns.push({ name: 'eth0', type: 'ethernet', interface: 'eth0' });
    if (r(2) === 0) conns.push({ name: 'wifi', type: 'wifi', interface: 'wlan0', wifi: { ssid: 'Home', password: 'change me please' } });
    c.network = { ...(r(3) === 0 ? { wifi_country: 'DE' } : {}), connections: conns };
  }
  const files: Array<Record<string, unknown>> = [];
  for (let i = 0; i < r(4); i++) {
    const f: Record<string, unknown> = { path: `/etc/flint-test/f${i}` };
    const kind = r(3);
    if (kind === 0) f.contents = `line ${i}\n`;
    else if (kind === 1) f.contents_base64 = Buffer.from([0, 1, 2, 255, i]).toString('base64');
    else f.source = `data:,hello%20${i}`;
    if (r(2) === 0) f.mode = pick(r, ['0600', '0755', '0640']);
    if (r(3) === 0) f.owner = users.length > 0 && r(2) === 0 ? 'user0' : 'root';
    if (r(4) === 0) f.overwrite = false;
    files.push(f);
  }
  if (files.length > 0) c.files = files;
  if (r(2) === 0) c.directories = [{ path: '/srv/data', ...(r(2) === 0 ? { mode: '0750' } : {}) }];
  if (r(2) === 0) c.links = [{ path: '/usr/local/bin/vi', target: '/usr/bin/vim' }];
  if (r(2) === 0) {
    c.systemd = {
      units: [{ name: 'hello.service', contents: '[Unit]\nDescription=hi\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n', ...(r(2) === 0 ? { enabled: true } : {}), ...(r(3) === 0 ? { dropins: [{ name: '10-x.conf', contents: '[Service]\nEnvironment=X=1\n' }] } : {}) }],
      ...(r(3) === 0 ? { default_target: 'multi-user.target' } : {}),
    };
  }
  if (r(3) === 0) c.kernel_arguments = { add: ['console=ttyS0,115200'], ...(r(2) === 0 ? { remove: ['quiet'] } : {}) };
  if (r(4) === 0) c.containers = [{ name: 'web', image: 'docker.io/library/nginx:1.27' }];
  if (r(4) === 0) c.scripts = [{ name: 'finish', stage: pick(r, ['post', 'pre']), contents: '#!/bin/sh\necho done\n' }];
  return stringify(c);
}
