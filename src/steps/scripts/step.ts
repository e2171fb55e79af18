/**
 * `scripts:` and Combustion scripts, run the way Combustion runs its `script`:
 *   - post (the default): chrooted in the target after every other step, with /proc, /sys
 *     and /dev bind-mounted and a tmpfs on /run, cwd the script's folder copied to RAM
 *     and bind-mounted into the chroot at /run/flint/scripts; everything is unmounted
 *     afterwards, also when the script fails;
 *   - pre: in the initramfs itself, not chrooted, before the root is touched;
 *   - a script with the `# combustion: prepare` marker also runs with `--prepare` in the
 *     initramfs before the root is touched, as Combustion's prepare phase does.
 * A non-zero exit status is a ScriptError, which the engine turns into a rollback.
 * Output goes to the log; the report keeps only names and exit codes.
 */
import type { Program } from '../../system/programs.js';
import { unmount, unmountNote } from '../../system/mount.js';
import { cpSync, existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { exec } from '../../system/exec.js';
import type { FlintConfig } from '../../config/validate.js';
import { ApplyError } from '../../engine/apply.js';
import { listSources } from '../../engine/step.js';
import type { Effect, Step, StepContext, StepOutput } from '../../engine/step.js';
import { decodeDataUrl } from '../../system/fetch.js';

/** Where the scripts' folders appear inside the chroot. */
export const CHROOT_SCRIPTS = '/run/flint/scripts';
/** A first-boot script may install packages: long, but not unbounded. */
const SCRIPT_TIMEOUT_MS = 60 * 60_000;

export interface Script {
  name: string;
  stage: 'pre' | 'post';
  /** `network: true` or the `# combustion: network` marker. */
  network: boolean;
  /** The `# combustion: prepare` marker: also run with --prepare in the initramfs. */
  prepare: boolean;
  body: Buffer;
  /** Host folder the script runs in (copied to RAM first). */
  folder: string;
}

/** What runs at all: `all` (flint run), `post` (flint apply: pre scripts belong to the initramfs), `none`. */
export type ScriptPolicy = 'all' | 'post' | 'none';

export interface ScriptRun {
  name: string;
  stage: 'pre' | 'prepare' | 'post';
  exit_code: number;
}

export interface ScriptOptions {
  /** RAM folder for the copies (the runner's /run/flint). */
  work: string;
  /** Script output and notes, line by line. */
  log(line: string): void;
}

export class ScriptError extends ApplyError {}

/**
 * The step: no file actions, two effects. Pre scripts and --prepare runs in the
 * environment before anything of the target is touched; post scripts after the file
 * actions, in the same transaction (a failing one rolls back flint's own changes).
 * Only an apply runs them; the policy of the run (ctx.env.scripts) says which.
 */
export const scriptsStep: Step = {
  name: 'scripts',
  sections: ['scripts'],
  sources: (c) => listSources(c, ['scripts'], 'source'),
  plan(ctx: StepContext): StepOutput {
    const out: StepOutput = { actions: [], problems: [], warnings: [] };
    if (!ctx.apply) return out;
    const policy = ctx.env.scripts;
    if (policy !== 'all') {
      const skipped = (ctx.config.scripts ?? []).filter((s) => policy === 'none' || s.stage === 'pre').map((s) => s.name);
      for (const name of skipped) out.warnings.push(`script "${name}" not run: ${policy === 'none' ? 'scripts are off for this run' : 'pre scripts run only in the initramfs (flint run)'}`);
    }
    if (policy === 'none') return out;
    const all = configScripts(ctx.config, ctx.payloads, ctx.configDir);
    for (const note of networkNotes(all, policy === 'all')) ctx.env.log(`flint: ${note}`);
    // Outside the initramfs only the chrooted part runs: no pre scripts, no --prepare runs.
    const scripts = policy === 'all' ? all : all.filter((s) => s.stage === 'post').map((s) => ({ ...s, prepare: false }));
    const effects: Effect[] = [];
    const ran = (runs: ScriptRun[]) => ({ changed: runs.length > 0, ...(runs.length > 0 ? { report: { scripts: runs } } : {}) });
    const log = (line: string) => ctx.env.log(line);
    if (scripts.some((s) => s.stage === 'pre' || s.prepare)) effects.push({ phase: 'environment', run: async () => ran(await ctx.env.withWork((work) => runPreScripts(scripts, { work, log }))) });
    if (scripts.some((s) => s.stage === 'post')) effects.push({ phase: 'after-files', run: async () => ran(await ctx.env.withWork((work) => runPostScripts(ctx.root.root, scripts, { work, log }))) });
    out.effects = effects;
    return out;
  },
};

/** The markers Combustion reads: a line starting `# combustion:` naming them. */
export function markers(body: string): { network: boolean; prepare: boolean } {
  const lines = body.split('\n').filter((l) => l.startsWith('# combustion:'));
  const has = (word: string) => lines.some((l) => new RegExp(`\\b${word}\\b`).test(l.slice('# combustion:'.length)));
  return { network: has('network'), prepare: has('prepare') };
}

/** The config's scripts with their bodies (file: payloads are read before planning). */
export function configScripts(config: FlintConfig, payloads: ReadonlyMap<string, Buffer>, configDir: string): Script[] {
  return (config.scripts ?? []).map((s) => {
    let body: Buffer | undefined;
    let folder = configDir;
    if (s.contents !== undefined) body = Buffer.from(s.contents);
    else if (s.source?.startsWith('file:')) {
      body = payloads.get(s.source);
      folder = dirname(join(configDir, s.source.slice('file:'.length)));
    } else if (s.source?.startsWith('data:')) body = decodeDataUrl(s.source);
    if (body === undefined) throw new Error(`script "${s.name}": no contents could be read from its source`);
    const m = markers(body.toString('utf8'));
    return { name: s.name, stage: s.stage ?? 'post', network: s.network === true || m.network, prepare: m.prepare, body, folder };
  });
}

/** Lines for the log about what a script needs and flint does not do itself. */
export function networkNotes(scripts: readonly Script[], runPre: boolean): string[] {
  const wanting = scripts.filter((s) => s.network && (s.stage === 'post' || runPre));
  if (wanting.length === 0) return [];
  return [
    `script ${wanting.map((s) => `"${s.name}"`).join(', ')} asks for the network: flint does not start the initramfs network itself; ` +
      'boot with rd.neednet=1 (and ip=dhcp or ip=... as dracut.cmdline(7) describes) so it is up before flint runs',
  ];
}

/**
 * Pre-stage scripts and `--prepare` runs, in the environment flint runs in. Before the
 * root is touched: a failure here leaves the target as it was.
 */
export async function runPreScripts(scripts: readonly Script[], o: ScriptOptions): Promise<ScriptRun[]> {
  const runs: ScriptRun[] = [];
  for (const [i, s] of scripts.entries()) {
    if (s.prepare) runs.push(await runOne(s, i, 'prepare', o, undefined));
    if (s.stage === 'pre') runs.push(await runOne(s, i, 'pre', o, undefined));
  }
  return runs;
}

/** Post-stage scripts, chrooted in ROOT, in the config's order. */
export async function runPostScripts(root: string, scripts: readonly Script[], o: ScriptOptions): Promise<ScriptRun[]> {
  const post = scripts.filter((s) => s.stage === 'post');
  if (post.length === 0) return [];
  const runs: ScriptRun[] = [];
  const mounts = await mountChroot(root, scriptsDir(o));
  try {
    await fakeResolvConf(root);
    for (const s of post) runs.push(await runOne(s, scripts.indexOf(s), 'post', o, root));
  } finally {
    await unmountAll(mounts, o);
  }
  return runs;
}

function scriptsDir(o: ScriptOptions): string {
  return join(o.work, 'scripts');
}

/**
 * Copies the script and its folder to RAM, runs it, logs its output and throws a
 * ScriptError when it fails. ROOT undefined: not chrooted.
 */
async function runOne(s: Script, index: number, stage: ScriptRun['stage'], o: ScriptOptions, root: string | undefined): Promise<ScriptRun> {
  const base = scriptsDir(o);
  const id = `${index}-${s.name.replace(/[^A-Za-z0-9._-]/g, '_')}`;
  const cwd = join(base, id);
  rmSync(cwd, { recursive: true, force: true });
  mkdirSync(base, { recursive: true, mode: 0o700 });
  if (existsSync(s.folder)) cpSync(s.folder, cwd, { recursive: true, verbatimSymlinks: true });
  else mkdirSync(cwd, { mode: 0o700 });
  const bodyFile = join(base, `${id}.script`);
  writeFileSync(bodyFile, s.body, { mode: 0o700 });
  // Paths as the script sees them: the same folder, bind-mounted at CHROOT_SCRIPTS in a chroot.
  const seen = root === undefined ? { cwd, body: bodyFile } : { cwd: posix.join(CHROOT_SCRIPTS, id), body: posix.join(CHROOT_SCRIPTS, `${id}.script`) };
  const argv = [...interpreter(s.body, seen.body), ...(stage === 'prepare' ? ['--prepare'] : [])];
  // A fixed shell text, the folder and the command as arguments: nothing from the config is parsed as shell.
  const inner = ['-c', 'cd "$1" || exit 126; shift; exec "$@"', 'flint-script', seen.cwd, ...argv];
  const [file, args]: [Program, string[]] = root === undefined ? ['/bin/sh', inner] : ['chroot', [root, '/bin/sh', ...inner]];
  o.log(`script "${s.name}" (${stage}${root === undefined ? ', in the initramfs' : ', chrooted in the target'}): running`);
  const r = await exec(file, args, { timeoutMs: SCRIPT_TIMEOUT_MS });
  for (const line of (r.stdout + (r.stdout && r.stderr ? '\n' : '') + r.stderr).split('\n')) if (line !== '') o.log(`  [${s.name}] ${line}`);
  const code = r.exitCode ?? -1;
  rmSync(cwd, { recursive: true, force: true });
  rmSync(bodyFile, { force: true });
  if (!r.ok) {
    const why = r.timedOut ? `did not finish within ${SCRIPT_TIMEOUT_MS / 60_000} minutes` : r.exitCode === undefined ? `could not be started (${r.summary})` : `exited with status ${code}`;
    throw new ScriptError(`script "${s.name}" (${stage}) ${why}`, index, `scripts[${index}]`, 0, 'scripts');
  }
  o.log(`script "${s.name}" (${stage}): exit status 0`);
  return { name: s.name, stage, exit_code: code };
}

/** `#!` scripts run themselves; the rest with /bin/sh, as the format says. */
function interpreter(body: Buffer, path: string): string[] {
  return body.subarray(0, 2).toString('latin1') === '#!' ? [path] : ['/bin/sh', path];
}

/**
 * /proc, /sys and /dev bound into the root (each recursively, then made a slave so
 * nothing the script mounts propagates back), a tmpfs on /run, and the scripts' RAM
 * folder on /run/flint/scripts. Returns the mount points, outermost first.
 */
async function mountChroot(root: string, scripts: string): Promise<string[]> {
  const done: string[] = [];
  try {
    for (const fs of ['proc', 'sys', 'dev']) {
      const target = join(root, fs);
      if (!existsSync(target)) throw new Error(`the target has no /${fs} folder to mount on`);
      await mount(['--rbind', `/${fs}`, target]);
      done.push(target);
      await mount(['--make-rslave', target]);
    }
    const run = join(root, 'run');
    if (!existsSync(run)) throw new Error('the target has no /run folder to mount on');
    await mount(['-t', 'tmpfs', '-o', 'mode=0755,nosuid,nodev', 'tmpfs', run]);
    done.push(run);
    const inner = join(root, CHROOT_SCRIPTS);
    mkdirSync(inner, { recursive: true, mode: 0o700 });
    mkdirSync(scripts, { recursive: true, mode: 0o700 });
    await mount(['--bind', scripts, inner]);
    done.push(inner);
  } catch (e) {
    await unmountAll(done, { log: () => undefined });
    throw new ScriptError(`cannot prepare the chroot for scripts: ${(e as Error).message}`, 0, '/', 0, 'scripts');
  }
  return done;
}

async function mount(args: string[]): Promise<void> {
  const r = await exec('mount', args);
  if (!r.ok) throw new Error(r.summary);
}

async function unmountAll(mounts: readonly string[], o: Pick<ScriptOptions, 'log'>): Promise<void> {
  for (const m of [...mounts].reverse()) {
    const note = unmountNote(m, await unmount(m, { recursive: true }));
    if (note !== undefined) o.log(note);
  }
}

/**
 * Name resolution inside the chroot: when the target's /etc/resolv.conf is a link into
 * /run (systemd-resolved, netconfig), the initramfs's resolv.conf is put there, on the
 * tmpfs, so nothing is written to the target's disk.
 */
async function fakeResolvConf(root: string): Promise<void> {
  let target: string;
  try {
    target = readlinkSync(join(root, 'etc/resolv.conf'));
  } catch {
    return;
  }
  const abs = posix.resolve('/etc', target);
  if (!abs.startsWith('/run/') || !existsSync('/etc/resolv.conf')) return;
  try {
    mkdirSync(join(root, dirname(abs)), { recursive: true });
    writeFileSync(join(root, abs), readFileSync('/etc/resolv.conf'));
  } catch {
    // Only a convenience for scripts that need the network.
  }
}
