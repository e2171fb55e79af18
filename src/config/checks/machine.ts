/**
 * Checks of the machine-wide settings that issue 20 added: etc_hosts, ntp,
 * ca_certificates, swap_file and raspberry_pi (power_state needs nothing beyond the
 * schema).
 */
import type { PathSeg } from '../diagnostics.js';
import type { Problem } from './problem.js';
import { checkHostname, parseSize } from './names.js';
import { isIPv4, isIPv6 } from './net.js';
import { checkSource, checkVerify } from './source.js';
import { parseCaPem } from './pem.js';

type Obj = Record<string, unknown>;

export interface Sink {
  error(path: PathSeg[], code: string, message: string, hint?: string, at?: 'key' | 'value'): void;
  warn(path: PathSeg[], code: string, message: string, hint?: string, at?: 'key' | 'value'): void;
  problem(path: PathSeg[], code: string, p: Problem | null | undefined): void;
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const objs = (v: unknown): Array<[Obj, number]> => (Array.isArray(v) ? v : []).flatMap((x, i): Array<[Obj, number]> => (isObj(x) ? [[x, i]] : []));
const strs = (v: unknown): Array<[string, number]> => (Array.isArray(v) ? v : []).flatMap((x, i): Array<[string, number]> => (typeof x === 'string' ? [[x, i]] : []));

export function checkMachine(cfg: Obj, r: Sink): void {
  checkEtcHosts(cfg.etc_hosts, r);
  if (isObj(cfg.ntp)) checkNtp(cfg.ntp, r);
  checkCaCertificates(cfg.ca_certificates, r);
  if (isObj(cfg.swap_file)) checkSwapFile(cfg.swap_file, r);
  if (isObj(cfg.raspberry_pi)) checkRaspberryPi(cfg.raspberry_pi, r);
  if (isObj(cfg.packages)) checkPackages(cfg.packages, r);
}

function checkPackages(p: Obj, r: Sink): void {
  for (const [n, j] of strs(p.install)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9+._~:=@-]*$/.test(n)) r.error(['packages', 'install', j], 'package-name', `"${n}" is not a package name`, 'write one name per item, e.g. nginx or nginx=1.22.1-9 (apt)');
  }
  for (const [f, j] of strs(p.files)) {
    const at: PathSeg[] = ['packages', 'files', j];
    if (!f.startsWith('file:')) r.error(at, 'package-file', 'a package file is file: plus its path on the medium, relative to the config\'s folder', 'e.g. file:packages/tool_1.0_all.deb');
    else {
      checkSource(at, f, false, r);
      if (!/\.(deb|rpm)$/.test(f)) r.error(at, 'package-file', 'a package file ends in .deb or .rpm');
    }
  }
  const names = strs(p.files).map(([f]) => f.split('/').pop() ?? f);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) r.error(['packages', 'files'], 'package-file', `two package files are named ${dup}; they are copied into one folder`, 'rename one of them', 'key');
}

function checkEtcHosts(list: unknown, r: Sink): void {
  const seen = new Map<string, number>();
  for (const [e, i] of objs(list)) {
    const address = typeof e.address === 'string' ? e.address : undefined;
    if (address !== undefined) {
      if (!isIPv4(address) && !isIPv6(address)) r.error(['etc_hosts', i, 'address'], 'hosts-address', `"${address}" is not an IPv4 or IPv6 address`, 'write the address only, e.g. 192.168.1.10 or fd00::10, without a prefix length');
      const prev = seen.get(address);
      if (prev !== undefined) r.error(['etc_hosts', i, 'address'], 'duplicate-hosts-address', `${address} is already given at etc_hosts[${prev}]`, 'list all its names in one entry');
      else seen.set(address, i);
    }
    for (const [n, j] of strs(e.names)) r.problem(['etc_hosts', i, 'names', j], 'hostname', checkHostname(n));
  }
}

function checkNtp(ntp: Obj, r: Sink): void {
  const servers = strs(ntp.servers);
  const pools = strs(ntp.pools);
  if (servers.length + pools.length === 0) r.error(['ntp'], 'ntp-empty', 'ntp: needs at least one server or pool', 'add servers: [ntp.example.org] or pools: [2.debian.pool.ntp.org], or remove ntp:', 'key');
  for (const [key, items] of [['servers', servers], ['pools', pools]] as const) {
    for (const [s, j] of items) {
      if (isIPv4(s) || isIPv6(s)) continue;
      const p = checkHostname(s);
      if (p !== null) r.error(['ntp', key, j], 'ntp-server', `"${s}" is neither a host name nor an IP address: ${p.message}`, 'write a name such as ntp.example.org or an address such as 192.168.1.1');
    }
  }
}

function checkCaCertificates(list: unknown, r: Sink): void {
  const names = new Map<string, number>();
  for (const [c, i] of objs(list)) {
    const at: PathSeg[] = ['ca_certificates', i];
    const name = typeof c.name === 'string' ? c.name : undefined;
    if (name !== undefined) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name) || /\.(crt|pem)$/.test(name)) r.error([...at, 'name'], 'ca-name', 'a certificate name is a file name without extension: letters, digits, ".", "_" and "-"', 'e.g. home-lab-ca');
      const prev = names.get(name);
      if (prev !== undefined) r.error([...at, 'name'], 'duplicate-ca', `the name ${name} is already used by ca_certificates[${prev}]`, 'give each certificate its own name');
      else names.set(name, i);
    }
    const given = (['contents', 'source'] as const).filter((k) => c[k] !== undefined);
    if (given.length === 0) r.error(at, 'ca-contents', 'a certificate needs contents (the PEM text) or source', 'paste the PEM under contents: |', 'key');
    if (given.length > 1) r.error([...at, 'source'], 'ca-contents', 'give contents or source, not both', undefined, 'key');
    if (typeof c.source === 'string') checkSource([...at, 'source'], c.source, c.verify !== undefined, r);
    checkVerify([...at, 'verify'], c.verify, r);
    if (typeof c.contents === 'string') {
      const parsed = parseCaPem(c.contents);
      if ('problem' in parsed) r.error([...at, 'contents'], 'ca-pem', `this is not one PEM certificate: ${parsed.problem}`, 'paste the whole certificate, -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----');
      else if (!parsed.ca) r.warn([...at, 'contents'], 'ca-not-ca', `the certificate of ${parsed.subject} is not a CA certificate (no basicConstraints CA:TRUE): OpenSSL and most TLS clients use it only to trust that exact server`, 'give the certificate of the authority that signed it');
    }
  }
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

function checkRaspberryPi(pi: Obj, r: Sink): void {
  if (pi.serial_console === true && pi.serial_hardware === false) r.error(['raspberry_pi', 'serial_console'], 'pi-serial', 'a serial console needs the serial port: serial_hardware is false', 'set serial_hardware: true, or remove one of them');
  if (Object.keys(pi).length === 0) r.warn(['raspberry_pi'], 'pi-empty', 'raspberry_pi: names no interface, so nothing changes', 'add e.g. i2c: true, or remove raspberry_pi:', 'key');
}
