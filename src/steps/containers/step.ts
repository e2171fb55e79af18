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
import { listSources } from '../../engine/step.js';
import type { PathSeg } from '../../config/diagnostics.js';
import type { Container } from '../../config/generated/model.js';
import type { Action } from '../../engine/actions.js';
import type { Problem, Step, StepContext, StepOutput } from '../../engine/step.js';
import type { TargetRoot } from '../../target/root.js';
import { IMAGE_DIR, QUADLET_DIR, archiveKind, archivePath, loadUnitName, renderFallbackService, renderLoadUnit, renderQuadlet, serviceName } from './quadlet.js';
import type { ArchiveKind } from './quadlet.js';
import { CONFIG_DIR, installLinks, unitSearchPath } from '../systemd/install.js';
import { unitNameKind } from '../systemd/units.js';

const STEP = 'containers';
const PODMAN_PATHS = ['/usr/bin/podman', '/bin/podman', '/usr/local/bin/podman'];
/** The Quadlet generator: where Podman packages install it, and its own binary. */
const QUADLET_PATHS = ['/usr/lib/systemd/system-generators/podman-system-generator', '/lib/systemd/system-generators/podman-system-generator', '/usr/libexec/podman/quadlet'];
export const AUTO_UPDATE_TIMER = 'podman-auto-update.timer';
/** Podman's container names; the same name is used for the units. */
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

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
  sections: ['containers'],
  sources: (c) => listSources(c, ['containers'], 'image_archive', (p) => `file:${p}`),
  // Quadlet's NAME.service, else podman's container-NAME.service.
  bootUnits: (c) => (c.containers ?? []).filter((k) => k.enabled !== false).map((k) => [`${k.name}.service`, `container-${k.name}.service`]),
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
    // Units to enable or disable once every file is known, with the config key each answers to.
    const install = { enable: [] as string[], disable: [] as string[], files: new Map<string, Buffer>(), at: new Map<string, PathSeg[]>() };
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
        install.files.set(path, Buffer.from(text));
        (c.enabled !== false ? install.enable : install.disable).push(service);
        install.at.set(service, at('enabled'));
      }
      report.push({ name: c.name, unit: service, via: quadlet ? 'quadlet' : 'service', ...(kind !== undefined ? { image_archive: kind } : {}) });
    });

    const autoUpdate = containers.findIndex((c) => c.auto_update === 'registry' || c.auto_update === 'local');
    // The systemd section has the last word on a unit it names.
    const named = (ctx.config.systemd?.units ?? []).some((u) => u.name === AUTO_UPDATE_TIMER && (u.enabled !== undefined || u.masked !== undefined));
    if (autoUpdate >= 0 && !named) {
      install.enable.push(AUTO_UPDATE_TIMER);
      install.at.set(AUTO_UPDATE_TIMER, ['containers', autoUpdate, 'auto_update']);
    }
    const links = installLinks(root, { step: STEP, ...install });
    if (links.missing.includes(AUTO_UPDATE_TIMER)) warnings.push(`${STEP}: ${AUTO_UPDATE_TIMER} does not exist in the target, so auto_update has no timer to run it; run podman auto-update some other way`);
    for (const p of links.problems) problems.push({ path: install.at.get(p.unit) ?? ['containers'], message: p.message, ...(p.hint !== undefined ? { hint: p.hint } : {}) });
    warnings.push(...links.warnings.map((w) => `${STEP}: ${w}`));
    actions.push(...links.actions);
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

