/**
 * The containers step: each container of the config as a systemd service run by the
 * target's Podman. Where that Podman has Quadlet, a .container file, which its
 * generator turns into NAME.service at boot (and enables through [Install]); without
 * Quadlet (Debian 12's Podman 4.3), the service `podman generate systemd --new` would
 * write, enabled as systemctl would. An image archive on the medium is copied into the
 * target and loaded by a oneshot unit before the container's service starts, so first
 * boot needs no network.
 *
 * Not done: removing containers an earlier config had and this one no longer names
 * (flint keeps no record of them), rootless (per-user) containers.
 */
import { posix } from 'node:path';
import type { PathSeg } from '../config/diagnostics.js';
import type { Container } from '../config/generated/model.js';
import type { Action } from '../engine/actions.js';
import type { Problem, Step, StepContext, StepOutput } from '../engine/plan.js';
import type { TargetRoot } from '../target/root.js';
import { IMAGE_DIR, QUADLET_DIR, archiveKind, archivePath, loadUnitName, renderFallbackService, renderLoadUnit, renderQuadlet, serviceName } from './containers-render.js';
import type { ArchiveKind } from './containers-render.js';
import { CONFIG_DIR, systemdVersion, unitSearchPath } from './systemd.js';
import { applyInstall, emptyInstall, expandSpecifiers, parseInstall, parseOsRelease, unitNameKind } from './systemd-units.js';
import type { InstallOptions } from './systemd-units.js';

const STEP = 'containers';
const PODMAN_PATHS = ['/usr/bin/podman', '/bin/podman', '/usr/local/bin/podman'];
/** The Quadlet generator: where Podman packages install it, and its own binary. */
const QUADLET_PATHS = ['/usr/lib/systemd/system-generators/podman-system-generator', '/lib/systemd/system-generators/podman-system-generator', '/usr/libexec/podman/quadlet'];
export const AUTO_UPDATE_TIMER = 'podman-auto-update.timer';
/** Podman's container names; the same name is used for the units. */
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** systemd 254 added UpheldBy= to [Install]. */
const UPHELD_BY_SINCE = 254;

/** The Podman binary of the target, undefined when it has none. */
export function findPodman(root: TargetRoot): string | undefined {
  return PODMAN_PATHS.find((p) => root.exists(p));
}

export function hasQuadlet(root: TargetRoot): boolean {
  return QUADLET_PATHS.some((p) => root.exists(p));
}

/**
 * Whether podman auto-update can follow an image: it refuses short names, whose
 * registry is decided by registries.conf at pull time.
 */
export function fullyQualified(image: string): boolean {
  const slash = image.indexOf('/');
  if (slash < 0) return false;
  const first = image.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost';
}

export const containersStep: Step = {
  name: STEP,
  plan(ctx: StepContext): StepOutput {
    const containers = ctx.config.containers ?? [];
    if (containers.length === 0) return { actions: [], problems: [], warnings: [] };
    const { root } = ctx;
    const podman = findPodman(root);
    if (podman === undefined) {
      return { actions: [], problems: [{ path: ['containers'], message: 'podman is not installed in the target', hint: 'install podman in the image (apt install podman, dnf install podman, zypper install podman)' }], warnings: [] };
    }
    const quadlet = hasQuadlet(root);
    const actions: Action[] = [];
    const problems: Problem[] = [];
    const warnings: string[] = [];
    const search = unitSearchPath(root);
    const version = systemdVersion(root);
    const installOpts: InstallOptions = {
      upheldBy: version === undefined || version >= UPHELD_BY_SINCE,
      osRelease: parseOsRelease(root.readText('/etc/os-release') ?? root.readText('/usr/lib/os-release') ?? ''),
    };
    const enabler = new Enabler(root, search, installOpts, problems, warnings);
    const report: Array<Record<string, unknown>> = [];
    let archiveDir = false;

    containers.forEach((c, i) => {
      const at = (...rest: PathSeg[]): PathSeg[] => ['containers', i, ...rest];
      const bad = checkContainer(c);
      if (bad !== undefined) {
        problems.push({ path: at(bad.key), message: bad.message, ...(bad.hint !== undefined ? { hint: bad.hint } : {}) });
        return;
      }
      if (quadlet && (c.command ?? []).includes('')) {
        // Quadlet's Exec= parser stops at an empty word and drops it and all that follow
        // (checked with Podman 5.4's generator), so the command would run cut short.
        problems.push({ path: at('command'), message: 'an empty argument cannot be passed through Quadlet, which drops it and every argument after it', hint: 'leave out the empty argument, or wrap the command in sh -c' });
        return;
      }
      const service = serviceName(c.name, quadlet);
      if (quadlet && search.some((d) => root.entry(`${d}/${service}`).type !== 'missing')) {
        warnings.push(`${STEP}: the target already has a unit ${service}; the one Quadlet generates from ${c.name}.container takes its place`);
      }
      let kind: ArchiveKind | undefined;
      if (c.image_archive !== undefined) {
        const key = `file:${c.image_archive}`;
        const data = ctx.payloads.get(key);
        if (data === undefined) {
          problems.push({ path: at('image_archive'), message: `${c.image_archive} was not read from the medium`, hint: 'the sources step reads containers[].image_archive as file:PATH before planning' });
          return;
        }
        const k = archiveKind(data);
        if ('error' in k) {
          problems.push({ path: at('image_archive'), message: `${c.image_archive}: ${k.error}`, hint: 'make it with podman save --format oci-archive (or docker-archive), or docker save' });
          return;
        }
        kind = k.kind;
        if (!archiveDir) {
          // Images can hold anything the container is given; only root reads them.
          actions.push({ kind: 'dir', path: IMAGE_DIR, mode: 0o700, uid: 0, gid: 0, step: STEP, why: 'image archives for podman load' });
          archiveDir = true;
        }
        actions.push({ kind: 'file', path: archivePath(c.name), data, mode: 0o600, uid: 0, gid: 0, step: STEP, why: `image archive of container ${c.name}` });
        actions.push(unitFile(`${CONFIG_DIR}/${loadUnitName(c.name)}`, renderLoadUnit(c, service, { podman }), `loads the image of container ${c.name}`));
      }
      if (quadlet) {
        actions.push({ kind: 'file', path: `${QUADLET_DIR}/${c.name}.container`, data: Buffer.from(renderQuadlet(c)), mode: 0o644, uid: 0, gid: 0, step: STEP, why: `Quadlet unit of container ${c.name}` });
      } else {
        const path = `${CONFIG_DIR}/${service}`;
        const text = renderFallbackService(c, { podman });
        actions.push(unitFile(path, text, `service of container ${c.name}`));
        actions.push(...enabler.links(service, path, text, c.enabled !== false, at('enabled')));
      }
      report.push({ name: c.name, unit: service, via: quadlet ? 'quadlet' : 'service', ...(kind !== undefined ? { image_archive: kind } : {}) });
    });

    const autoUpdate = containers.findIndex((c) => c.auto_update === 'registry' || c.auto_update === 'local');
    // The systemd section has the last word on a unit it names.
    const named = (ctx.config.systemd?.units ?? []).some((u) => u.name === AUTO_UPDATE_TIMER && (u.enabled !== undefined || u.masked !== undefined));
    if (autoUpdate >= 0 && !named) {
      const path = search.map((d) => `${d}/${AUTO_UPDATE_TIMER}`).find((p) => root.entry(p).type !== 'missing');
      const text = path === undefined ? undefined : root.readText(path);
      if (path === undefined || text === undefined) {
        warnings.push(`${STEP}: ${AUTO_UPDATE_TIMER} does not exist in the target, so auto_update has no timer to run it; run podman auto-update some other way`);
      } else {
        actions.push(...enabler.links(AUTO_UPDATE_TIMER, path, text, true, ['containers', autoUpdate, 'auto_update']));
      }
    }
    return { actions, problems, warnings, report: report.length > 0 ? { containers: report } : {} };
  },
};

function unitFile(path: string, text: string, why: string): Action {
  return { kind: 'file', path, data: Buffer.from(text), mode: 0o644, uid: 0, gid: 0, step: STEP, why };
}

function checkContainer(c: Container): { key: string; message: string; hint?: string } | undefined {
  if (!CONTAINER_NAME.test(c.name) || unitNameKind(`container-${c.name}.service`) !== 'plain' || unitNameKind(loadUnitName(c.name)) !== 'plain') {
    return { key: 'name', message: `"${c.name}" cannot name a container and its units`, hint: 'use letters, digits, "_", "." and "-", starting with a letter or digit' };
  }
  const lines: Array<[string, readonly string[]]> = [['image', [c.image]], ['ports', c.ports ?? []], ['volumes', c.volumes ?? []]];
  for (const [key, values] of lines) {
    if (values.some((v) => /[\n\r\0]/.test(v))) return { key, message: 'a line break or NUL cannot be written into a unit file' };
  }
  if ((c.auto_update === 'registry' || c.auto_update === 'local') && !fullyQualified(c.image)) {
    return { key: 'image', message: `podman auto-update needs a fully qualified image, not "${c.image}"`, hint: `name the registry, e.g. docker.io/library/${c.image}` };
  }
  return undefined;
}

/**
 * The links `systemctl enable` makes for a unit with no aliases to follow: its
 * [Install] section, and that of its drop-ins in the target, read by the systemd
 * step's own parser. A link already there to a file of the same name is kept as it is,
 * as systemctl keeps it.
 */
class Enabler {
  constructor(
    private readonly root: TargetRoot,
    private readonly search: readonly string[],
    private readonly opts: InstallOptions,
    private readonly problems: Problem[],
    private readonly warnings: string[],
  ) {}

  /** Links to make (enable) or remove (disable) for `name`, whose file is at `path`. */
  links(name: string, path: string, text: string, enable: boolean, where: PathSeg[]): Action[] {
    const data = emptyInstall();
    const warn = (m: string): void => {
      this.warnings.push(`${STEP}: ${m}`);
    };
    const sources: Array<[string, string]> = [[path, text], ...this.dropins(name)];
    for (const [file, t] of sources) {
      const parsed = parseInstall(t);
      parsed.warnings.forEach((w) => warn(`${file}: ${w}`));
      const err = parsed.error ?? applyInstall(data, name, file, parsed.assignments, this.opts, warn);
      if (err !== undefined) {
        this.problems.push({ path: where, message: `${file}: ${err}` });
        return [];
      }
    }
    if (data.also.length > 0) warn(`${path}: Also= is not followed when flint enables ${name}`);
    const wanted: Array<[string, string]> = [
      ...data.wantedBy.map((t): [string, string] => [t, 'wants']),
      ...data.requiredBy.map((t): [string, string] => [t, 'requires']),
      ...data.upheldBy.map((t): [string, string] => [t, 'upholds']),
    ];
    const paths: Array<[string, string]> = [];
    for (const [t, suffix] of wanted) {
      const r = expandSpecifiers(t, { name, defaultInstance: undefined, osRelease: this.opts.osRelease });
      if ('error' in r) warn(`${path}: ${t}: ${r.error}; ignored`);
      else if (unitNameKind(r.value) === undefined) warn(`${path}: "${r.value}" is not a valid unit name; ignored`);
      else paths.push([`${CONFIG_DIR}/${r.value}.${suffix}/${name}`, `enable ${name} (${suffix === 'wants' ? 'WantedBy' : suffix === 'requires' ? 'RequiredBy' : 'UpheldBy'}=${r.value})`]);
    }
    for (const a of data.aliases) {
      const r = expandSpecifiers(a, { name, defaultInstance: undefined, osRelease: this.opts.osRelease });
      if ('error' in r || unitNameKind(r.value) === undefined) warn(`${path}: Alias=${a} ignored`);
      else paths.push([`${CONFIG_DIR}/${r.value}`, `alias ${r.value} of ${name}`]);
    }
    const out: Action[] = [];
    const seen = new Set<string>();
    for (const [p, why] of paths) {
      if (seen.has(p)) continue;
      seen.add(p);
      const e = this.root.entry(p);
      if (!enable) {
        if (e.type === 'symlink') out.push({ kind: 'absent', path: p, step: STEP, why: `disable ${name}` });
        continue;
      }
      if (e.type !== 'missing' && e.type !== 'symlink') {
        this.problems.push({ path: where, message: `${p} already exists and is not a link (${e.type})`, hint: 'remove it from the image' });
        continue;
      }
      const keep = e.type === 'symlink' && posix.basename(e.target) === posix.basename(path) ? e.target : path;
      out.push({ kind: 'symlink', path: p, target: keep, uid: 0, gid: 0, step: STEP, why });
    }
    return out;
  }

  /** Drop-ins of `name` with [Install] lines: the first folder with a file name wins, then by name. */
  private dropins(name: string): Array<[string, string]> {
    const files = new Map<string, string>();
    for (const dir of this.search) {
      for (const f of this.root.list(`${dir}/${name}.d`)) {
        if (f.endsWith('.conf') && !f.startsWith('.') && !files.has(f)) files.set(f, `${dir}/${name}.d/${f}`);
      }
    }
    return [...files.keys()].sort().flatMap((f) => {
      const p = files.get(f) ?? '';
      const t = this.root.readText(p);
      return t === undefined ? [] : [[p, t] as [string, string]];
    });
  }
}
