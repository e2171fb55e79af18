/**
 * The containers step and its renderers. Quoting is checked against an independent
 * reading of systemd's rules for command lines (systemd.service(5) "Command lines",
 * systemd.unit(5) "Specifiers", extract_first_word() with EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE):
 * the words systemd would pass to podman must be the config's, byte for byte. Where the
 * host has systemd-analyze, it checks the units are accepted as written. Image archives
 * are made with the host's GNU tar.
 */
import { stepContext } from '../helpers/step-context.js';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Container } from '../../src/config/generated/model.js';
import type { FlintConfig } from '../../src/config/validate.js';
import type { Action } from '../../src/engine/actions.js';
import { planSteps } from '../../src/engine/plan.js';
import type { StepContext, StepOutput } from '../../src/engine/step.js';
import { archiveKind, execLine, quoteExecArg, renderFallbackService, renderLoadUnit, renderQuadlet, tarEntries } from '../../src/steps/containers/quadlet.js';
import { containersStep, fullyQualified } from '../../src/steps/containers/step.js';
import { TargetRoot } from '../../src/target/root.js';
import { argvOf, settings, values } from '../helpers/systemd-exec.js';

// ---------------------------------------------------------------- fixtures

const NASTY = ['daemon off;', 'a b', 'say "hi"', "it's", '50%', '%n', '$HOME', '${PATH}', '$$', 'back\\slash', 'trail\\', 'ünïcödé ✓ 日本', 'tab\there', 'line\nbreak', '', ';', '\\x41', "'", '"', '\x01ctl'];

const WEB: Container = {
  name: 'web',
  image: 'docker.io/library/nginx:1.27',
  ports: ['8080:80', '127.0.0.1:8443:443'],
  volumes: ['/srv/web:/usr/share/nginx/html:ro'],
  environment: { TZ: 'UTC', GREETING: 'hello world', PRICE: '5$ or 50%' },
  command: ['nginx', '-g', 'daemon off;'],
  restart: 'always',
  auto_update: 'registry',
  enabled: true,
};

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'flint-containers-'));
  dirs.push(d);
  return d;
}

function put(root: string, path: string, data: string | Buffer = '', mode = 0o644): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), data);
  chmodSync(join(root, path), mode);
}

interface TargetSpec {
  podman?: boolean;
  quadlet?: boolean;
  timer?: boolean;
}

function target(spec: TargetSpec = {}): string {
  const d = tmp();
  mkdirSync(join(d, 'etc/systemd/system'), { recursive: true });
  put(d, 'etc/os-release', 'ID=debian\nVERSION_ID="12"\n');
  if (spec.podman !== false) put(d, 'usr/bin/podman', '', 0o755);
  if (spec.quadlet === true) put(d, 'usr/lib/systemd/system-generators/podman-system-generator', '', 0o755);
  if (spec.timer === true) {
    put(d, 'usr/lib/systemd/system/podman-auto-update.timer', '[Unit]\nDescription=Podman auto-update timer\n\n[Timer]\nOnCalendar=daily\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n');
    put(d, 'usr/lib/systemd/system/podman-auto-update.service', '[Service]\nType=oneshot\nExecStart=/usr/bin/podman auto-update\n');
  }
  return d;
}

function ctxFor(root: string, containers: Container[], payloads = new Map<string, Buffer>(), extra: Partial<FlintConfig> = {}): StepContext {
  const config = { version: 1, containers, ...extra } as unknown as FlintConfig;
  return stepContext(root, config, { configDir: root, today: 0, payloads });
}

function byPath(out: StepOutput): Map<string, Action> {
  return new Map(out.actions.map((a) => [a.path, a]));
}

function fileText(out: StepOutput, path: string): string {
  const a = byPath(out).get(path);
  if (a?.kind !== 'file') throw new Error(`no file ${path}`);
  return a.data.toString('utf8');
}

/** A tar made by GNU tar from `files`, in the given format; entries named ./x when `dot`. */
function makeTar(files: Record<string, string>, format = 'gnu', dot = false): Buffer {
  const d = tmp();
  for (const [name, text] of Object.entries(files)) put(d, name, text);
  const out = join(tmp(), 'a.tar');
  execFileSync('tar', [`--format=${format}`, '-cf', out, '-C', d, ...(dot ? ['.'] : Object.keys(files).sort())]);
  return execFileSync('cat', [out]);
}

const OCI = { 'oci-layout': '{"imageLayoutVersion":"1.0.0"}', 'index.json': '{"schemaVersion":2,"manifests":[]}', 'blobs/sha256/aa': 'x'.repeat(700) };
const DOCKER = { 'manifest.json': '[]', 'repositories': '{}', [`${'l'.repeat(120)}/layer.tar`]: 'y'.repeat(1500) };

const hasTar = spawnSync('tar', ['--version']).status === 0;
const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

// ---------------------------------------------------------------- tests

describe('quoting for systemd command lines', () => {
  it('gives back every argument, byte for byte, after specifiers, unquoting and $ substitution', () => {
    for (const s of NASTY) expect(argvOf(quoteExecArg(s), 'x.service')).toEqual([s]);
    expect(argvOf(execLine(NASTY), 'x.service')).toEqual(NASTY);
  });

  it('survives random strings of awkward characters', () => {
    let seed = 7;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return Math.floor(seed / 65536) % n;
    };
    const alphabet = [...' \t\n"\'\\%$;{}#=a/Zé✓\x7f\x02'];
    for (let run = 0; run < 500; run++) {
      const argv = Array.from({ length: 1 + next(4) }, () => Array.from({ length: next(8) }, () => alphabet[next(alphabet.length)] ?? '').join(''));
      expect(argvOf(execLine(argv), 'x.service')).toEqual(argv);
    }
  });

  it('leaves plain words unquoted and doubles % and $', () => {
    expect(quoteExecArg('--publish')).toBe('--publish');
    expect(quoteExecArg('8080:80')).toBe('8080:80');
    expect(quoteExecArg('a%b$c')).toBe('a%%b$$c');
    expect(quoteExecArg('daemon off;')).toBe('"daemon off;"');
    expect(quoteExecArg('')).toBe('""');
  });
});

describe('the fallback service (Podman without Quadlet)', () => {
  const text = renderFallbackService({ ...WEB, command: ['sh', '-c', ...NASTY] }, { podman: '/usr/bin/podman' });

  it('runs podman as podman generate systemd --new does, with the config in between', () => {
    const [start] = values(text, 'Service', 'ExecStart');
    expect(argvOf(start ?? '', 'container-web.service')).toEqual([
      '/usr/bin/podman', 'run', '--cidfile=/run/container-web.service.ctr-id', '--cgroups=no-conmon', '--rm', '--sdnotify=conmon', '-d', '--replace',
      '--name', 'web',
      '--publish', '8080:80', '--publish', '127.0.0.1:8443:443',
      '--volume', '/srv/web:/usr/share/nginx/html:ro',
      '--env', 'GREETING=hello world', '--env', 'PRICE=5$ or 50%', '--env', 'TZ=UTC',
      '--label', 'io.containers.autoupdate=registry',
      'docker.io/library/nginx:1.27', 'sh', '-c', ...NASTY,
    ]);
    expect(argvOf(values(text, 'Service', 'ExecStop')[0] ?? '', 'container-web.service')).toEqual(['/usr/bin/podman', 'stop', '--ignore', '-t', '10', '--cidfile=/run/container-web.service.ctr-id']);
    expect(argvOf(values(text, 'Service', 'ExecStopPost')[0] ?? '', 'container-web.service')).toEqual(['/usr/bin/podman', 'rm', '-f', '--ignore', '-t', '10', '--cidfile=/run/container-web.service.ctr-id']);
    expect(values(text, 'Service', 'Type')).toEqual(['notify']);
    expect(values(text, 'Service', 'NotifyAccess')).toEqual(['all']);
    expect(values(text, 'Service', 'Restart')).toEqual(['always']);
    expect(values(text, 'Service', 'Environment')).toEqual(['PODMAN_SYSTEMD_UNIT=%n']);
    expect(values(text, 'Install', 'WantedBy')).toEqual(['multi-user.target']);
  });

  it('defaults to Restart=on-failure and no label without auto_update', () => {
    const t = renderFallbackService({ name: 'a', image: 'localhost/a' }, { podman: '/usr/bin/podman' });
    expect(values(t, 'Service', 'Restart')).toEqual(['on-failure']);
    expect(t).not.toContain('autoupdate');
    expect(t).not.toContain('flint-load');
  });

  it.skipIf(!hasAnalyze)('passes systemd-analyze verify (podman replaced by /bin/true, which the host has)', () => {
    const d = tmp();
    const c: Container = { ...WEB, command: ['sh', '-c', ...NASTY], image_archive: 'img.tar' };
    writeFileSync(join(d, 'container-web.service'), renderFallbackService(c, { podman: '/bin/true' }));
    writeFileSync(join(d, 'flint-load-web.service'), renderLoadUnit(c, 'container-web.service', { podman: '/bin/true' }));
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', join(d, 'container-web.service'), join(d, 'flint-load-web.service')], { encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes(d))).toEqual([]);
    expect(r.status).toBe(0);
  });
});

describe('the Quadlet .container', () => {
  const text = renderQuadlet({ ...WEB, image_archive: 'images/nginx.tar' });

  it('has one setting per option', () => {
    expect(values(text, 'Container', 'Image')).toEqual(['docker.io/library/nginx:1.27']);
    expect(values(text, 'Container', 'ContainerName')).toEqual(['web']);
    expect(values(text, 'Container', 'PublishPort')).toEqual(['8080:80', '127.0.0.1:8443:443']);
    expect(values(text, 'Container', 'Volume')).toEqual(['/srv/web:/usr/share/nginx/html:ro']);
    expect(values(text, 'Container', 'AutoUpdate')).toEqual(['registry']);
    expect(values(text, 'Service', 'Restart')).toEqual(['always']);
    expect(values(text, 'Install', 'WantedBy')).toEqual(['multi-user.target default.target']);
    expect(values(text, 'Unit', 'Requires')).toEqual(['flint-load-web.service']);
    expect(values(text, 'Unit', 'After')).toEqual(['flint-load-web.service']);
  });

  it('quotes Environment= and Exec= as command-line words (Quadlet passes them on to ExecStart=)', () => {
    expect(values(text, 'Container', 'Environment').map((v) => argvOf(v, 'web.service'))).toEqual([['GREETING=hello world'], ['PRICE=5$ or 50%'], ['TZ=UTC']]);
    expect(argvOf(values(text, 'Container', 'Exec')[0] ?? '', 'web.service')).toEqual(['nginx', '-g', 'daemon off;']);
    const nasty = renderQuadlet({ name: 'n', image: 'localhost/n', command: NASTY });
    expect(argvOf(values(nasty, 'Container', 'Exec')[0] ?? '', 'n.service')).toEqual(NASTY);
  });

  it('has no [Install] when not enabled, and no Exec= or AutoUpdate= unless asked', () => {
    const t = renderQuadlet({ name: 'a', image: 'localhost/a', enabled: false, auto_update: 'none' });
    expect(settings(t).has('Install')).toBe(false);
    expect(values(t, 'Container', 'Exec')).toEqual([]);
    expect(values(t, 'Container', 'AutoUpdate')).toEqual([]);
    expect(values(t, 'Service', 'Restart')).toEqual(['on-failure']);
  });

  it('doubles % and $ in values that end up as podman arguments', () => {
    const t = renderQuadlet({ name: 'a', image: 'localhost/a', volumes: ['/srv/100%:/data'], ports: ['80:80'] });
    expect(values(t, 'Container', 'Volume')).toEqual(['/srv/100%%:/data']);
  });

  it('is the same bytes for the same container, whatever the order of environment keys', () => {
    const a = renderQuadlet(WEB);
    const b = renderQuadlet({ ...WEB, environment: { TZ: 'UTC', PRICE: '5$ or 50%', GREETING: 'hello world' } });
    expect(a).toBe(b);
    expect(renderFallbackService(WEB, { podman: '/usr/bin/podman' })).toBe(renderFallbackService({ ...WEB }, { podman: '/usr/bin/podman' }));
  });
});

describe.skipIf(!hasTar)('image archives', () => {
  it('recognises an OCI archive, also with ./ names and in pax format', () => {
    expect(archiveKind(makeTar(OCI))).toEqual({ kind: 'oci' });
    expect(archiveKind(makeTar(OCI, 'pax', true))).toEqual({ kind: 'oci' });
    expect(archiveKind(makeTar(OCI, 'ustar', true))).toEqual({ kind: 'oci' });
  });

  it('recognises a docker-archive and reads long names (GNU and pax)', () => {
    expect(archiveKind(makeTar(DOCKER))).toEqual({ kind: 'docker' });
    expect(archiveKind(makeTar(DOCKER, 'pax'))).toEqual({ kind: 'docker' });
    const names = tarEntries(makeTar(DOCKER, 'gnu'));
    expect('names' in names && names.names).toContain(`${'l'.repeat(120)}/layer.tar`);
  });

  it('refuses garbage, an empty file, a truncated tar and a tar of something else', () => {
    expect(archiveKind(Buffer.from('not a tar at all'.repeat(100)))).toHaveProperty('error');
    expect(archiveKind(Buffer.alloc(0))).toHaveProperty('error');
    expect(archiveKind(Buffer.alloc(1024))).toHaveProperty('error');
    const t = makeTar(DOCKER);
    expect(archiveKind(t.subarray(0, 1024))).toHaveProperty('error');
    expect(archiveKind(makeTar({ 'index.json': '{}' }))).toHaveProperty('error');
    const corrupt = Buffer.from(t);
    corrupt[0] = (corrupt[0] ?? 0) ^ 1;
    expect(archiveKind(corrupt)).toHaveProperty('error');
  });
});

describe('the containers step', () => {
  it('is a problem without podman in the target', () => {
    const out = containersStep.plan(ctxFor(target({ podman: false }), [WEB]));
    expect(out.problems.map((p) => p.message)).toEqual(['podman is not installed in the target']);
    expect(out.actions).toEqual([]);
  });

  it('does nothing without containers, even without podman', () => {
    const out = containersStep.plan(ctxFor(target({ podman: false }), []));
    expect(out).toEqual({ actions: [], problems: [], warnings: [] });
  });

  it('writes a .container and no links when the target has Quadlet', () => {
    const root = target({ quadlet: true, timer: true });
    const out = containersStep.plan(ctxFor(root, [WEB]));
    expect(out.problems).toEqual([]);
    const paths = out.actions.map((a) => a.path);
    expect(paths).toContain('/etc/containers/systemd/web.container');
    expect(paths.filter((p) => p.includes('web'))).toEqual(['/etc/containers/systemd/web.container']);
    expect(fileText(out, '/etc/containers/systemd/web.container')).toBe(renderQuadlet(WEB));
    expect(byPath(out).get('/etc/containers/systemd/web.container')).toMatchObject({ mode: 0o644, uid: 0, gid: 0 });
    // auto_update: the timer is enabled as systemctl would, from its own [Install].
    expect(byPath(out).get('/etc/systemd/system/timers.target.wants/podman-auto-update.timer')).toMatchObject({ kind: 'symlink', target: '/usr/lib/systemd/system/podman-auto-update.timer' });
    expect(out.report).toEqual({ containers: [{ name: 'web', unit: 'web.service', via: 'quadlet' }] });
  });

  it('finds Quadlet by its own binary too', () => {
    const root = target();
    put(root, 'usr/libexec/podman/quadlet', '', 0o755);
    expect(containersStep.plan(ctxFor(root, [WEB])).actions.map((a) => a.path)).toContain('/etc/containers/systemd/web.container');
  });

  it('writes and enables container-NAME.service without Quadlet', () => {
    const root = target();
    const out = containersStep.plan(ctxFor(root, [WEB]));
    expect(out.problems).toEqual([]);
    expect(fileText(out, '/etc/systemd/system/container-web.service')).toBe(renderFallbackService(WEB, { podman: '/usr/bin/podman' }));
    expect(byPath(out).get('/etc/systemd/system/multi-user.target.wants/container-web.service')).toMatchObject({ kind: 'symlink', target: '/etc/systemd/system/container-web.service' });
    expect(out.warnings).toEqual([
      'containers: podman-auto-update.timer does not exist in the target, so auto_update has no timer to run it; run podman auto-update some other way',
      // As systemctl warns: this minimal target has no multi-user.target.
      'containers: container-web.service is added as a dependency to multi-user.target, which does not exist in the target',
    ]);
  });

  it('removes the wants link of a container that is not enabled (fallback)', () => {
    const root = target();
    mkdirSync(join(root, 'etc/systemd/system/multi-user.target.wants'), { recursive: true });
    execFileSync('ln', ['-s', '/etc/systemd/system/container-web.service', join(root, 'etc/systemd/system/multi-user.target.wants/container-web.service')]);
    const out = containersStep.plan(ctxFor(root, [{ ...WEB, enabled: false, auto_update: 'none' }]));
    expect(byPath(out).get('/etc/systemd/system/multi-user.target.wants/container-web.service')).toMatchObject({ kind: 'absent' });
  });

  it('leaves the timer to the systemd section when it names it', () => {
    const root = target({ timer: true });
    const out = containersStep.plan(ctxFor(root, [WEB], new Map(), { systemd: { units: [{ name: 'podman-auto-update.timer', enabled: false }] } } as Partial<FlintConfig>));
    expect(out.actions.some((a) => a.path.includes('podman-auto-update'))).toBe(false);
  });

  it('refuses auto_update with a short image name, and names podman cannot take', () => {
    const root = target();
    const out = containersStep.plan(ctxFor(root, [{ name: 'a', image: 'nginx', auto_update: 'registry' }, { name: '-bad', image: 'localhost/x' }, { name: 'b', image: 'localhost/b', ports: ['80:80\nExecStartPre=/bin/evil'] }]));
    expect(out.problems.map((p) => p.path)).toEqual([['containers', 0, 'image'], ['containers', 1, 'name'], ['containers', 2, 'ports']]);
    expect(fullyQualified('docker.io/library/nginx')).toBe(true);
    expect(fullyQualified('localhost/x')).toBe(true);
    expect(fullyQualified('library/nginx')).toBe(false);
  });

  it('refuses an empty argument with Quadlet, which would cut the command short, but not without', () => {
    const c: Container = { name: 'a', image: 'localhost/a', command: ['echo', '', 'x'] };
    expect(containersStep.plan(ctxFor(target({ quadlet: true }), [c])).problems.map((p) => p.path)).toEqual([['containers', 0, 'command']]);
    expect(containersStep.plan(ctxFor(target(), [c])).problems).toEqual([]);
  });

  it.skipIf(!hasTar)('copies a valid image archive and loads it before the container (both kinds of target)', () => {
    const tar = makeTar(OCI);
    const c: Container = { ...WEB, image_archive: 'images/nginx.tar' };
    for (const quadlet of [true, false]) {
      const out = containersStep.plan(ctxFor(target({ quadlet }), [c], new Map([['file:images/nginx.tar', tar]])));
      expect(out.problems).toEqual([]);
      const a = byPath(out);
      expect(a.get('/var/lib/flint/images/nginx.tar')).toBeUndefined();
      expect(a.get('/var/lib/flint/images/web.tar')).toMatchObject({ kind: 'file', mode: 0o600, uid: 0, gid: 0, data: tar });
      expect(a.get('/var/lib/flint/images')).toMatchObject({ kind: 'dir', mode: 0o700 });
      const service = quadlet ? 'web.service' : 'container-web.service';
      const load = fileText(out, '/etc/systemd/system/flint-load-web.service');
      expect(values(load, 'Unit', 'Before')).toEqual([service]);
      expect(values(load, 'Unit', 'ConditionPathExists')).toEqual(['/var/lib/flint/images/web.tar']);
      expect(values(load, 'Service', 'RemainAfterExit')).toEqual(['yes']);
      expect(values(load, 'Service', 'Type')).toEqual(['oneshot']);
      expect(argvOf(values(load, 'Service', 'ExecStart')[0] ?? '', 'flint-load-web.service')).toEqual(['/usr/bin/podman', 'load', '-i', '/var/lib/flint/images/web.tar']);
      const unit = quadlet ? fileText(out, '/etc/containers/systemd/web.container') : fileText(out, '/etc/systemd/system/container-web.service');
      expect(values(unit, 'Unit', 'Requires')).toEqual(['flint-load-web.service']);
      expect(values(unit, 'Unit', 'After').at(-1)).toBe('flint-load-web.service');
      expect(out.report).toEqual({ containers: [{ name: 'web', unit: service, via: quadlet ? 'quadlet' : 'service', image_archive: 'oci' }] });
    }
  });

  it('is a problem when the archive is garbage or was not read', () => {
    const c: Container = { ...WEB, image_archive: 'images/nginx.tar' };
    const bad = containersStep.plan(ctxFor(target(), [c], new Map([['file:images/nginx.tar', Buffer.from('garbage')]])));
    expect(bad.problems.map((p) => p.path)).toEqual([['containers', 0, 'image_archive']]);
    expect(bad.actions.some((a) => a.path.includes('web'))).toBe(false);
    const missing = containersStep.plan(ctxFor(target(), [c]));
    expect(missing.problems.map((p) => p.path)).toEqual([['containers', 0, 'image_archive']]);
  });

  it.skipIf(!hasTar)('changes nothing on a second plan after applying, and gives the same bytes twice', () => {
    const root = target({ timer: true });
    const payloads = new Map([['file:images/nginx.tar', makeTar(DOCKER)]]);
    const c: Container = { ...WEB, image_archive: 'images/nginx.tar' };
    const first = containersStep.plan(ctxFor(root, [c], payloads));
    const again = containersStep.plan(ctxFor(root, [c], payloads));
    expect(again.actions).toEqual(first.actions);
    // Put the planned state in place by hand, then plan again: nothing left to do.
    const r = new TargetRoot(root);
    for (const a of first.actions) {
      if (a.kind === 'dir') mkdirSync(join(root, a.path), { recursive: true, mode: a.mode });
      else if (a.kind === 'file') put(root, a.path, a.data, a.mode);
      else if (a.kind === 'symlink') {
        mkdirSync(dirname(join(root, a.path)), { recursive: true });
        execFileSync('ln', ['-s', a.target, join(root, a.path)]);
      }
    }
    chmodSync(join(root, 'var/lib/flint/images'), 0o700);
    const plan = planSteps(ctxFor(root, [c], payloads), [containersStep]);
    expect(plan.problems).toEqual([]);
    expect(plan.planned.map((p) => p.action.path)).toEqual([]);
    expect(r.entry('/etc/systemd/system/timers.target.wants/podman-auto-update.timer').type).toBe('symlink');
  });
});
