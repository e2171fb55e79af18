/** `flint image apply` and `flint image embed`: configs for raw disk images. */
import { existsSync, statSync } from 'node:fs';
import { countBySeverity, diagnosticToJson, formatDiagnostic } from '../config/diagnostics.js';
import type { Diagnostic } from '../config/diagnostics.js';
import { makeDiagnostic } from '../config/load.js';
import { spanOf } from '../config/validate.js';
import { ApplyError } from '../engine/apply.js';
import { provision } from '../pipeline/provision.js';
import type { ProvisionResult } from '../pipeline/provision.js';
import { REPORT_PATH } from '../engine/report.js';
import { AttachedImage, checkRawImage, ImageError } from '../media/disk-image.js';
import { embedConfig, embedFiles, EMBED_NAME, withNoCloudDs } from '../media/embed.js';
import { inspectImage } from '../media/inspect.js';
import { runEnable } from './image-enable.js';
import { engineOf, RENDER_BOOLEANS, RENDER_VALUES, renderForCli } from './render-cli.js';
import { parseArgs, UsageError } from './args.js';
import type { ParsedArgs } from './args.js';
import { factsOf } from './apply.js';
import { loadPrepared } from './drive.js';
import { imageHelp } from './media-help.js';
import type { Output } from './output.js';

export async function runImage(argv: readonly string[], io: Output): Promise<number> {
  const args = parseArgs(argv, { booleans: ['scripts', 'json', ...RENDER_BOOLEANS], values: ['mac', 'serial', 'machine-uuid', 'for', 'arch', 'flint', 'trust', ...RENDER_VALUES] });
  const [sub, ...rest] = args.positionals;
  if (args.flags.has('help') || sub === undefined) {
    io.out(imageHelp);
    return sub === undefined && !args.flags.has('help') ? 2 : 0;
  }
  if (sub === 'enable') return runEnable(rest, args, io);
  for (const f of ['arch', 'flint', 'trust']) if (args.flags.has(f)) throw new UsageError(`--${f} is for flint image enable`);
  if (sub !== 'apply' && sub !== 'embed') throw new UsageError(`unknown "flint image ${sub}": use "flint image apply", "flint image embed" or "flint image enable"`);
  if (rest.length !== 2) throw new UsageError(`flint image ${sub} needs DISK.img and CONFIG`);
  if (sub === 'apply') for (const f of ['for', 'strict', 'host', 'ignition-version']) if (args.flags.has(f)) throw new UsageError(`--${f} is for flint image embed`);
  const [img, configFile] = rest as [string, string];
  if (!existsSync(img) || !statSync(img).isFile()) throw new UsageError(`${img}: no such image file`);
  if (!existsSync(configFile)) throw new UsageError(`${configFile}: no such file`);
  try {
    checkRawImage(img);
    return sub === 'apply' ? await apply(img, configFile, args, io) : await embed(img, configFile, args, io);
  } catch (e) {
    if (e instanceof ImageError) {
      io.err(`flint: ${e.message}${e.hint !== undefined ? `\n  hint: ${e.hint}` : ''}`);
      return 1;
    }
    throw e;
  }
}

async function embed(img: string, configFile: string, args: ParsedArgs, io: Output): Promise<number> {
  const engine = engineOf(args, 'for') ?? (await chosenEngine(img, io));
  if (engine === undefined) return 1;
  if (engine === 'ignition') {
    throw new UsageError('--for ignition: Ignition images read their config from their own boot or OEM partition (ext4 on Fedora CoreOS, the OEM partition on Flatcar), not from a FAT partition flint can write; make a stick (flint drive create CONFIG --for ignition -o stick.img) or pass the rendering to the installer (flint convert CONFIG --to ignition -o config.ign; coreos-installer install --ignition-file config.ign)');
  }
  if (engine === 'cloud-init') return embedSeed(img, configFile, args, io);
  const prepared = await loadPrepared(configFile, io);
  if (prepared === undefined) return 1;
  const part = await embedConfig(img, prepared);
  const extra = prepared.payloads.length > 0 ? ` and ${prepared.payloads.length} payload${prepared.payloads.length === 1 ? '' : 's'}` : '';
  io.out(`${img}: wrote ${EMBED_NAME}${extra} to FAT partition ${part.index}${part.name !== undefined ? ` (${part.name})` : ''}; flint run reads it at first boot`);
  return 0;
}

/** Without --for: the engine the image runs, said aloud; undefined (after saying why) when flint cannot write for it. */
async function chosenEngine(img: string, io: Output): Promise<'flint' | 'cloud-init' | undefined> {
  const found = await inspectImage(img);
  if (found.engine === undefined) {
    io.err(`flint: could not tell which first-boot engine ${img} runs (${found.why}); writing flint.yaml, which an image with flint enabled reads; --for cloud-init writes a NoCloud seed instead`);
    return 'flint';
  }
  if (found.engine === 'ignition' || found.engine === 'combustion') {
    io.err(`flint: ${img} runs ${found.engine === 'ignition' ? 'Ignition' : 'Combustion'} (${found.why}), which reads no config from the boot partition: make a stick instead (flint drive create CONFIG --for ignition -o stick.img), or give --for flint if flint is enabled in it`);
    return undefined;
  }
  io.err(`flint: ${img} runs ${found.engine} (${found.why}): writing ${found.engine === 'flint' ? 'flint.yaml' : 'a NoCloud seed'}; --for chooses otherwise`);
  return found.engine;
}

/** A NoCloud seed at the top of the boot partition, where Raspberry Pi OS and Ubuntu for Raspberry Pi read it. */
async function embedSeed(img: string, configFile: string, args: ParsedArgs, io: Output): Promise<number> {
  const files = renderForCli(configFile, 'cloud-init', args, io);
  if (files === undefined) return 1;
  const id = /^instance-id: (\S+)$/m.exec(files.find((f) => f.rel === 'meta-data')?.text ?? '')?.[1] ?? '';
  const edits = [{ rel: 'cmdline.txt', change: (t: string) => withNoCloudDs(t, id) }];
  const part = await embedFiles(img, files.map((f) => ({ rel: f.rel, data: f.text })), 'a NoCloud seed', edits);
  const cmdline = part.edited.includes('cmdline.txt') ? `, and ds=nocloud;i=${id} to cmdline.txt (as Raspberry Pi Imager does)` : '';
  io.out(`${img}: wrote ${files.map((f) => f.rel).join(', ')} to FAT partition ${part.index}${part.name !== undefined ? ` (${part.name})` : ''}${cmdline}; the image's cloud-init reads them at first boot`);
  return 0;
}

async function apply(img: string, configFile: string, args: ParsedArgs, io: Output): Promise<number> {
  if (process.getuid?.() !== 0) {
    io.err('flint: image apply needs root (losetup and mount); run it with sudo');
    return 1;
  }
  const attached = await AttachedImage.attach(img);
  let code = 1;
  try {
    code = await applyMounted(attached, configFile, img, args, io);
  } finally {
    // Always: a loop device left attached would keep the image busy.
    const problems = await attached.release();
    for (const p of problems) io.err(`flint: ${p}`);
    if (problems.length > 0) code = 1;
  }
  return code;
}

async function applyMounted(attached: AttachedImage, configFile: string, img: string, args: ParsedArgs, io: Output): Promise<number> {
  const json = args.flags.has('json');
  const root = await attached.mountRoot();
  if (!json) for (const n of attached.notes) io.err(`flint: ${n}`);
  let result: ProvisionResult;
  try {
    result = await provision({
      root,
      configFile,
      apply: true,
      facts: factsOf(args),
      scripts: args.flags.has('scripts') ? 'post' : 'none',
      log: (line) => io.err(line),
      progress: json ? undefined : (done, total, p) => io.err(`  [${done}/${total}] ${p.change === 'create' ? 'created' : 'changed'} ${p.action.path}`),
    });
  } catch (e) {
    if (!(e instanceof ApplyError)) throw e;
    if (json) io.out(JSON.stringify({ ok: false, stage: 'apply', error: e.message, path: e.path }, null, 2));
    else io.err(`flint: apply failed and was rolled back: ${e.message}`);
    return 1;
  }
  return report(io, result, img, configFile, json);
}


function report(io: Output, result: ProvisionResult, img: string, configFile: string, json: boolean): number {
  const diagnostics: Diagnostic[] = result.ok || result.stage === 'validate' ? result.diagnostics : [...result.diagnostics, ...result.plan.problems.map((p) => makeDiagnostic(result.loaded, { severity: 'error', code: `target-${p.step}`, message: p.message, hint: p.hint, span: spanOf(result.loaded, p.path, p.path.length === 1 ? 'key' : 'value'), path: p.path }))];
  if (json) {
    io.out(JSON.stringify({ ok: result.ok, image: img, diagnostics: diagnostics.map(diagnosticToJson), ...(result.ok ? { changes: result.plan.planned.length, ...(result.report ? { report: result.report } : {}) } : { stage: result.stage }) }, null, 2));
    return result.ok ? 0 : 1;
  }
  for (const d of diagnostics) io.err(formatDiagnostic(d, { color: io.color }) + '\n');
  if (!result.ok) {
    const { errors } = countBySeverity(diagnostics);
    io.out(`${configFile}: ${result.stage === 'validate' ? 'invalid' : 'does not fit the image'} (${errors} error${errors === 1 ? '' : 's'}); nothing was written to ${img}`);
    return 1;
  }
  for (const w of result.plan.warnings) io.err(`warning: ${w}`);
  if (result.plan.planned.length === 0) io.out(`nothing to do: ${img} already matches ${configFile}`);
  else {
    io.out(`applied ${result.plan.planned.length} change${result.plan.planned.length === 1 ? '' : 's'} to ${img}; report in ${REPORT_PATH} on the image`);
    const hostKeys = result.report?.host_keys as Array<{ type: string; bits: number; fingerprint: string }> | undefined;
    for (const k of hostKeys ?? []) io.out(`  host key ${k.bits} ${k.fingerprint} (${k.type.toUpperCase()})`);
  }
  return 0;
}
