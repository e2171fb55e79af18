/**
 * The first boot (`flint run`): find the config and apply it to the target root, in a new
 * btrfs snapshot where the root has snapper's layout, else under the engine's journal.
 * After success: a marker so the next boot is not a first boot, openSUSE's first-boot
 * wizard marker removed, a console summary and the result written back to the medium. After a failure: the step, the error and the
 * config's source, the root as before, and exit 1 (the boot stops) unless
 * flint.on_failure=continue.
 */
import { chownSync, existsSync, lstatSync, mkdirSync, readFileSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseCmdline } from '../discover/cmdline.js';
import type { BootOptions } from '../discover/cmdline.js';
import { bootedFirstBoot, detectFirstBoot, DONE_MARKER, NO_CONFIG_MARKER } from '../discover/firstboot.js';
import { machineFacts } from '../discover/facts.js';
import { defaultTimeoutMs, discover, DiscoveryError } from '../discover/sources.js';
import type { Found } from '../discover/sources.js';
import { countBySeverity, formatDiagnostic } from '../config/diagnostics.js';
import type { Diagnostic } from '../config/diagnostics.js';
import { makeDiagnostic } from '../config/load.js';
import { spanOf } from '../config/validate.js';
import type { FlintConfig } from '../config/validate.js';
import { ApplyError } from '../engine/apply.js';
import type { ApplyProgress } from '../engine/apply.js';
import { provision } from './provision.js';
import type { MachineFacts, ProvisionResult } from './provision.js';
import type { Report } from '../engine/report.js';
import { REPORT_PATH, writeReport } from '../engine/report.js';
import { exec } from '../system/exec.js';
import { validateAny } from '../convert/any.js';
import { bringUpInitrdNetwork } from '../steps/network/initrd.js';
import { nodeCrypto } from '../system/lazy-builtins.js';
import { setTracing, trace } from '../system/trace.js';
import { TargetRoot } from '../target/root.js';
import { chooseStrategy, SnapshotError } from '../transaction/snapshot.js';
import type { Strategy } from '../transaction/snapshot.js';
import { checkTrust } from './trust-check.js';
import { catchUpBootedSystem } from './booted.js';
import type { TrustOutcome } from './trust-check.js';

/** Where the first boot talks: the console (standard output for results, standard error for progress). */
export interface Console {
  out(s: string): void;
  err(s: string): void;
  color: boolean;
}

export interface Paths {
  sysroot: string;
  fwCfg: string;
  sys: string;
  work: string;
  /** The trust anchors of this initramfs. */
  trustDir: string;
}

type Source = Found;

export interface FirstBootOptions {
  paths: Paths;
  /** The kernel command line. */
  cmdline: string;
  /** Started in the booted root by flint-firstboot.service (flint image enable), not in an initramfs. */
  booted: boolean;
  json: boolean;
}

/** The first boot: find the config, check its signature, apply it, mark the machine done; the exit status. */
export async function firstBoot(o: FirstBootOptions, io: Console): Promise<number> {
  const { paths, cmdline, booted } = o;
  const boot = parseCmdline(cmdline);
  if (boot.trace) setTracing(true);
  trace('first boot: node started and flint loaded');
  for (const p of boot.problems) io.err(`flint: warning: kernel command line: ${p}`);

  const first = booted ? bootedFirstBoot(paths.sysroot) : detectFirstBoot(paths.sysroot, boot);
  if (!first.firstBoot) {
    io.out(`flint: not the first boot (${first.reason} in ${paths.sysroot}); nothing to do`);
    return 0;
  }
  io.err(`flint: first boot (${first.reason}); looking for a config`);

  let found: Source | undefined;
  try {
    found = await findConfig(boot, paths, io);
  } catch (e) {
    if (!(e instanceof DiscoveryError)) throw e;
    io.err(`flint: ${e.message}`);
    io.out('flint: no config applied');
    return failed(boot, io);
  }
  if (found === undefined) {
    if (boot.require) {
      io.out('flint: no flint config found, and flint.require=1 is set: stopping');
      return failed(boot, io);
    }
    io.out('no flint config found; booting unconfigured');
    if (booted) markNoConfig(paths.sysroot, io);
    return 0;
  }
  trace(`first boot: config found (${found.source})`);
  const trust = await checkTrust(found.configFile, boot, paths.trustDir, (line) => io.err(`flint: ${line}`));
  trace('first boot: signature checked');
  if (!trust.ok) return refuse(found, boot, paths, trust, io);
  io.err(`flint: applying the config from ${found.source}`);
  return applyFound(found, boot, paths, io, o.json, trust, booted);
}

/** The config by the spec's order: flint's own and the other tools' at each level (see discover/sources.ts). */
async function findConfig(boot: BootOptions, paths: Paths, io: Console): Promise<Source | undefined> {
  return discover({
    boot,
    sysroot: paths.sysroot,
    fwCfg: paths.fwCfg,
    sys: paths.sys,
    work: paths.work,
    timeoutMs: boot.timeoutS !== undefined ? boot.timeoutS * 1000 : defaultTimeoutMs(),
    log: (line) => io.err(`flint: ${line}`),
    countdown: (left) => io.err(`waiting for a config medium: ${left} s left`),
  });
}

/** A config whose signature does not hold: nothing touched, the reason on the console and on the medium. */
async function refuse(found: Source, boot: BootOptions, paths: Paths, trust: Extract<TrustOutcome, { ok: false }>, io: Console): Promise<number> {
  const log = (line: string) => io.err(`flint: ${line}`);
  io.out(`flint: REFUSED the config from ${found.source}: ${trust.reason}`);
  if (found.medium !== undefined && boot.report) {
    const result = { ok: false, stage: 'trust', policy: trust.policy, source: found.source, reason: trust.reason, finished: new Date().toISOString() };
    const text = [`flint: REFUSED this config at ${result.finished} (flint.trust=${trust.policy})`, `reason: ${trust.reason}`, 'nothing was written to the machine', ''].join('\n');
    await writeFilesBack(found.medium, [{ name: 'RESULT.txt', data: text }, { name: 'result.json', data: JSON.stringify(result, null, 2) + '\n' }], paths.work, log);
  }
  return failure(io, boot, found, 'trust', `the signature check refused the config: ${trust.reason}`, 'nothing was written');
}

async function applyFound(found: Source, boot: BootOptions, paths: Paths, io: Console, json: boolean, trust: Extract<TrustOutcome, { ok: true }>, booted: boolean): Promise<number> {
  const log = (line: string) => io.err(line.startsWith('flint: ') || line.startsWith('  [') ? line : `flint: ${line}`);
  // Validated before anything is touched, the snapshot included: a broken config leaves
  // not even a deleted snapshot behind. provision() checks it again (cheap) before applying.
  const check = validateAny(found.configFile);
  if (check.config === undefined) {
    for (const d of check.diagnostics) io.err(formatDiagnostic(d, { color: io.color }) + '\n');
    const { errors } = countBySeverity(check.diagnostics);
    io.out(`${found.configFile}: invalid (${errors} error${errors === 1 ? '' : 's'}); nothing was written`);
    return failure(io, boot, found, 'validate', 'the config is invalid (above)', 'nothing was written');
  }
  trace('first boot: config validated');
  let strategy: Strategy;
  try {
    strategy = await chooseStrategy({ sysroot: paths.sysroot, work: paths.work, log, inPlace: booted });
  } catch (e) {
    if (!(e instanceof SnapshotError)) throw e;
    return failure(io, boot, found, 'snapshot', e.message, 'nothing was changed');
  }
  trace(`first boot: ${strategy.kind} ready`);
  io.err(`flint: applying into ${strategy.describe}`);
  const facts: MachineFacts = machineFacts(paths.sys);
  let result: ProvisionResult;
  try {
    result = await provision({
      root: strategy.root,
      configFile: found.configFile,
      apply: true,
      facts,
      scripts: 'all',
      work: paths.work,
      initrdNetwork: (config) => initrdNetwork(config, log),
      ...(boot.proxy !== undefined ? { proxy: boot.proxy } : {}),
      // The medium is never a target of storage, whichever partition of it the config came from.
      ...(found.medium !== undefined ? { excludeDevices: [found.medium.device.node] } : {}),
      log,
      ...(json ? {} : { progress: ((done, total, p) => io.err(`  [${done}/${total}] ${p.change === 'create' ? 'created' : 'changed'} ${p.action.path}`)) satisfies ApplyProgress }),
    });
  } catch (e) {
    await strategy.abort(log);
    if (e instanceof ApplyError) return failure(io, boot, found, e.step ?? 'apply', e.message, asBefore(strategy));
    return failure(io, boot, found, 'apply', (e as Error).message, asBefore(strategy));
  }
  if (!result.ok) {
    await strategy.abort(log);
    printDiagnostics(io, result);
    const { errors } = countBySeverity(diagnosticsOf(result));
    io.out(`${found.configFile}: ${result.stage === 'validate' ? 'invalid' : 'does not fit the target'} (${errors} error${errors === 1 ? '' : 's'}); nothing was written`);
    return failure(io, boot, found, result.stage, result.stage === 'validate' ? 'the config is invalid (above)' : 'the config does not fit the target (above)', 'nothing was written');
  }
  for (const d of result.diagnostics) io.err(formatDiagnostic(d, { color: io.color }) + '\n');
  for (const w of result.plan.warnings) io.err(`warning: ${w}`);
  if (result.recovered !== undefined) io.err(`flint: an interrupted apply was found in the target and rolled back (${result.recovered} paths restored)`);
  if (result.report !== undefined) addSignature(strategy.root, result.report, trust, log);
  const summary = summarize(strategy.root, strategy.kind === 'snapshot' ? `${paths.sysroot} (${strategy.describe})` : paths.sysroot, result, result.config);
  if (trust.signer !== undefined) summary.push(`  signed by "${trust.signer.name}" (SHA256 ${trust.signer.fingerprint})`);
  else if (trust.policy === 'optional') summary.push('  not signed (flint.trust=optional)');
  try {
    markDone(strategy.root, result.report, found.source);
  } catch (e) {
    log(`could not write ${DONE_MARKER} (${(e as Error).message}): the next boot runs flint again unless systemd has committed /etc/machine-id`);
  }
  const restoreWizard = dropWizardMarker(strategy.root, log);
  trace('first boot: applied');
  try {
    await strategy.commit(log);
  } catch (e) {
    // Before the abort: it unmounts the target's subvolumes, /var among them.
    try {
      restoreWizard?.();
    } catch (err) {
      log(`could not put /${WIZARD_MARKER} back (${(err as Error).message})`);
    }
    await strategy.abort(log).catch(() => undefined);
    const state = strategy.kind === 'snapshot' ? 'the lines above say whether the new snapshot was deleted or is already the default' : asBefore(strategy);
    return failure(io, boot, found, 'commit', (e as Error).message, state);
  }
  trace(`first boot: ${strategy.kind} committed`);
  if (booted && result.config !== undefined) await catchUpBootedSystem(result.config, log);
  if (json) io.out(JSON.stringify({ ok: true, source: found.source, strategy: strategy.kind, ...(result.report ? { report: result.report } : {}) }, null, 2));
  else for (const line of summary) io.out(line);
  const medium = found.medium;
  if (medium !== undefined && boot.report && result.report !== undefined) await writeBack(medium, result.report, summary, paths.work, log);
  else if (medium !== undefined && !boot.report) log('flint.report=0: nothing written back to the medium');
  trace('first boot: done');
  return 0;
}

function asBefore(s: Strategy): string {
  return s.kind === 'snapshot' ? 'the new snapshot was deleted; the default subvolume is as before' : "every change flint made was rolled back (a script's own writes elsewhere are not: see docs/first-boot.md)";
}

/** The failure lines: the step, the error, the config's source, and what happens next. */
function failure(io: Console, boot: BootOptions, found: Source, step: string, message: string, state: string): number {
  io.err(`flint: FAILED in step ${step}: ${message}`);
  io.err(`flint: config: ${found.source}`);
  io.err(`flint: ${state}`);
  return failed(boot, io);
}

function failed(boot: BootOptions, io: Console): number {
  if (boot.onFailure === 'continue') {
    io.err('flint: flint.on_failure=continue: the boot goes on, unconfigured');
    return 0;
  }
  io.err('flint: stopping the boot (flint.on_failure=continue on the kernel command line boots on unconfigured instead)');
  return 1;
}

function diagnosticsOf(result: Exclude<ProvisionResult, { ok: true }>): Diagnostic[] {
  if (result.stage === 'validate') return result.diagnostics;
  const { loaded, plan } = result;
  const problems = plan.problems.map((p) => makeDiagnostic(loaded, { severity: 'error', code: `target-${p.step}`, message: p.message, hint: p.hint, span: spanOf(loaded, p.path, p.path.length === 1 ? 'key' : 'value'), path: p.path }));
  return [...result.diagnostics, ...problems];
}

function printDiagnostics(io: Console, result: Exclude<ProvisionResult, { ok: true }>): void {
  for (const d of diagnosticsOf(result)) io.err(formatDiagnostic(d, { color: io.color }) + '\n');
}

/** The console summary: what was applied, users, addresses, the target's SSH host key fingerprints. */
export function summarize(root: string, shown: string, result: Extract<ProvisionResult, { ok: true }>, config: FlintConfig | undefined): string[] {
  const n = result.plan.planned.length;
  const lines = [n === 0 ? `nothing to change in ${shown}` : `applied ${n} change${n === 1 ? '' : 's'} to ${shown}; report in ${REPORT_PATH}`];
  const scripts = (result.report?.scripts ?? []) as Array<{ name: string; stage: string; exit_code: number }>;
  if (scripts.length > 0) lines.push(`  scripts: ${scripts.map((s) => `${s.name} (${s.stage}, exit ${s.exit_code})`).join(', ')}`);
  const users = (config?.users ?? []).map((u) => u.name);
  if (users.length > 0) lines.push(`  users: ${users.join(', ')}`);
  for (const c of config?.network?.connections ?? []) {
    const v4 = c.ipv4?.method === 'static' ? (c.ipv4.addresses ?? []).join(' ') : c.ipv4?.method ?? 'dhcp';
    const v6 = c.ipv6?.method === 'static' ? (c.ipv6.addresses ?? []).join(' ') : c.ipv6?.method ?? 'auto';
    lines.push(`  network ${c.name}${c.interface !== undefined ? ` (${c.interface})` : ''}: IPv4 ${v4}, IPv6 ${v6}`);
  }
  for (const k of hostKeyFingerprints(root)) lines.push(`  host key ${k}`);
  return lines;
}

/** SHA256 fingerprints of /etc/ssh/ssh_host_*_key.pub in the target, as ssh-keygen -l shows them. */
export function hostKeyFingerprints(root: string): string[] {
  const t = new TargetRoot(root);
  const out: string[] = [];
  let names: string[];
  try {
    names = t.list('/etc/ssh');
  } catch {
    return [];
  }
  for (const name of names.filter((f) => /^ssh_host_.+_key\.pub$/.test(f)).sort()) {
    const [type, b64] = (t.readText(`/etc/ssh/${name}`) ?? '').trim().split(/\s+/);
    if (type === undefined || b64 === undefined) continue;
    const blob = Buffer.from(b64, 'base64');
    const fp = nodeCrypto().createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
    out.push(`SHA256:${fp} (${type})`);
  }
  return out;
}

/** --booted: this first boot found no config, so the next boot is not a first boot (firstboot.ts). */
function markNoConfig(root: string, io: Console): void {
  try {
    new TargetRoot(root).writeFile(NO_CONFIG_MARKER, Buffer.from(`no config was found at ${new Date().toISOString()}; delete this file to look again at the next boot\n`), 0o644, 0, 0);
  } catch (e) {
    io.err(`flint: could not write ${NO_CONFIG_MARKER} (${(e as Error).message}): the next boot looks for a config again`);
  }
}

/** The marker that makes the next boot not a first boot (firstboot.ts), in the root just configured. */
function markDone(root: string, report: Report | undefined, source: string): void {
  const t = new TargetRoot(root);
  const data = { flint: report?.flint ?? 'dev', finished: new Date().toISOString(), source, config_sha256: report?.config.sha256 };
  t.writeFile(DONE_MARKER, Buffer.from(JSON.stringify(data, null, 2) + '\n'), 0o644, 0, 0);
}

/**
 * openSUSE's marker (JeOS, MicroOS images) that starts the jeos-firstboot or YaST
 * Firstboot wizard, which asks for settings on the console. Combustion removes it once
 * a config was applied, and so does flint: on a machine nobody watches, the wizard
 * would hold the boot.
 */
export const WIZARD_MARKER = 'var/lib/YaST2/reconfig_system';

/** Removes the wizard marker from ROOT; returns what puts it back, if it was there. */
export function dropWizardMarker(root: string, log: (line: string) => void): (() => void) | undefined {
  const p = join(root, WIZARD_MARKER);
  let st: Stats;
  try {
    st = lstatSync(p);
  } catch {
    return undefined;
  }
  if (!st.isFile()) return undefined;
  const data = readFileSync(p);
  unlinkSync(p);
  log(`removed /${WIZARD_MARKER}, so the jeos-firstboot wizard does not ask for settings (as Combustion does)`);
  return () => {
    writeFileSync(p, data, { mode: st.mode & 0o7777 });
    chownSync(p, st.uid, st.gid);
  };
}

/** The signature check's outcome in the report, and the report written again with it into the target. */
function addSignature(root: string, report: Report, trust: Extract<TrustOutcome, { ok: true }>, log: (line: string) => void): void {
  report.signature = trust.signer !== undefined ? { policy: trust.policy, signed: true, signer: trust.signer.name, subject: trust.signer.subject, fingerprint_sha256: trust.signer.fingerprint, signed_at: trust.signer.signed_at, anchor: trust.signer.anchor } : { policy: trust.policy, signed: false };
  try {
    writeReport(new TargetRoot(root), report);
  } catch (e) {
    log(`could not add the signature to ${REPORT_PATH} (${(e as Error).message})`);
  }
}

/** RESULT.txt (for people) and result.json, in the config's folder on the medium. */
export function resultFiles(report: Report, summary: readonly string[]): Array<{ name: string; data: string }> {
  const text = [`flint ${report.flint}: configured this machine at ${report.finished}`, `config: ${report.config.file} (sha256 ${report.config.sha256})`, ...summary, ''].join('\n');
  return [
    { name: 'RESULT.txt', data: text },
    { name: 'result.json', data: JSON.stringify(report, null, 2) + '\n' },
  ];
}

/**
 * The result written back to the medium when it is writable: FAT with mtools (no
 * mount, so no vfat module needed), other filesystems mounted read-write briefly. Never
 * fatal: the machine is configured either way.
 */
export async function writeBack(medium: { device: { node: string; type?: string }; folder: string }, report: Report, summary: readonly string[], work: string, log: (line: string) => void): Promise<boolean> {
  return writeFilesBack(medium, resultFiles(report, summary), work, log);
}

/** FILES written into the config's folder on the medium, when it is writable (see writeBack). */
export async function writeFilesBack(medium: { device: { node: string; type?: string }; folder: string }, files: Array<{ name: string; data: string }>, work: string, log: (line: string) => void): Promise<boolean> {
  const node = medium.device.node;
  const type = medium.device.type || (await exec('blkid', ['-o', 'value', '-s', 'TYPE', '-p', node])).stdout.trim();
  const folder = medium.folder.replace(/^\.?\/*|\/+$/g, '');
  const name = node.split('/').pop() ?? '';
  if (readSmall(`/sys/class/block/${name}/ro`) === '1' || type === 'iso9660' || type === 'udf') {
    log(`${node}: read-only (${type}); the result is not written back`);
    return false;
  }
  const dir = join(work, 'result');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const f of files) writeFileSync(join(dir, f.name), f.data, { mode: 0o600 });
  let ok: boolean;
  if (type === 'vfat' || type === 'msdos') ok = await writeFat(node, folder, dir, files, log);
  else ok = await writeMounted(node, type, folder, dir, files, work, log);
  if (ok) log(`wrote ${folder === '' ? '' : folder + '/'}RESULT.txt and result.json to ${node}`);
  return ok;
}

async function writeFat(node: string, folder: string, dir: string, files: Array<{ name: string }>, log: (l: string) => void): Promise<boolean> {
  // One mcopy for all the files (into the folder, so each keeps its name): a process start
  // is a quarter of a second on an emulated machine.
  const r = await exec('mcopy', ['-o', '-i', node, ...files.map((f) => join(dir, f.name)), `::/${folder === '' ? '' : folder + '/'}`]);
  if (!r.ok) {
    log(`${node}: could not write ${files.map((f) => f.name).join(' and ')} back: ${r.summary}`);
    return false;
  }
  return true;
}

async function writeMounted(node: string, type: string, folder: string, dir: string, files: Array<{ name: string }>, work: string, log: (l: string) => void): Promise<boolean> {
  const mnt = join(work, 'result-mnt');
  mkdirSync(mnt, { recursive: true, mode: 0o700 });
  const m = await exec('mount', ['-o', 'rw,nodev,nosuid,noexec', '-t', type, node, mnt]);
  if (!m.ok) {
    log(`${node}: cannot mount it read-write (${m.summary}); the result is not written back`);
    return false;
  }
  try {
    for (const f of files) writeFileSync(join(mnt, folder, f.name), readFileSync(join(dir, f.name)), { mode: 0o644 });
    return true;
  } catch (e) {
    log(`${node}: could not write the result back: ${(e as Error).message}`);
    return false;
  } finally {
    const u = await exec('umount', [mnt]);
    if (!u.ok) log(`${node}: could not unmount it: ${u.summary}`);
    else rmdirSync(mnt);
  }
}

function readSmall(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * network.in_initrd: the connections brought up in this initramfs (see
 * steps/network/initrd.ts). Outside one (no /etc/initrd-release: a test, a rescue
 * system) nothing is started and the connections only go to the target.
 */
async function initrdNetwork(config: FlintConfig, log: (line: string) => void): Promise<{ message: string; hint: string } | undefined> {
  if (!existsSync('/etc/initrd-release')) {
    log('network.in_initrd: not running in an initramfs (no /etc/initrd-release), so no connection is brought up here');
    return undefined;
  }
  const r = await bringUpInitrdNetwork(config, {
    exists: existsSync,
    write: async (f) => {
      mkdirSync(dirname(f.path), { recursive: true, mode: 0o755 });
      writeFileSync(f.path, f.text, { mode: f.mode });
    },
    run: (file, args, timeoutMs) => exec(file, args, { timeoutMs }),
    log,
    sleep: (ms) => new Promise((done) => setTimeout(done, ms)),
  });
  return r.ok ? undefined : { message: r.message, hint: r.hint };
}
