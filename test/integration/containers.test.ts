/**
 * The containers step against the target's own tools.
 *
 * Debian 12 (Podman 4.3, no Quadlet): the fallback service and the image load unit must
 * pass the target's `systemd-analyze verify`, and its systemctl must call the service
 * enabled. Podman is not in the cached root; verify wants the ExecStart= binary to
 * exist, so the copy gets an empty executable /usr/bin/podman.
 *
 * Debian 13 (Podman 5, Quadlet): the target's own generator, run with --dryrun, must
 * turn the .container into a service whose podman arguments are the config's. That
 * root takes minutes to build the first time, so this part runs when it is cached or
 * FLINT_TEST_QUADLET=1 asks for it.
 */
import { stepContext } from '../helpers/step-context.js';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Container } from '../../src/config/generated/model.js';
import type { FlintConfig } from '../../src/config/validate.js';
import { applyPlanned } from '../../src/engine/apply.js';
import { planSteps } from '../../src/engine/plan.js';
import type { Plan } from '../../src/engine/plan.js';
import type { StepContext } from '../../src/engine/step.js';
import { containersStep } from '../../src/steps/containers/step.js';
import { TargetRoot } from '../../src/target/root.js';
import { cacheBase, cacheDirName, freshRoot, hasRootfsSupport, inChroot } from './rootfs.js';
import type { FreshRoot } from './rootfs.js';
import { TRIXIE_PODMAN } from './rootfs-trixie.js';
import { argvOf, values } from '../helpers/systemd-exec.js';

const support = hasRootfsSupport();

/** Arguments that need every kind of quoting systemd has. */
const NASTY = ['daemon off;', 'say "hi"', "it's", '50%', '$HOME', '${PATH}', 'back\\slash', 'ünïcödé ✓', 'tab\there', 'line\nbreak'];

const WEB: Container = {
  name: 'web',
  image: 'docker.io/library/nginx:1.27',
  ports: ['8080:80'],
  volumes: ['/srv/web:/usr/share/nginx/html:ro'],
  environment: { TZ: 'UTC', GREETING: 'hello world $USER 100%' },
  command: ['sh', '-c', ...NASTY],
  restart: 'always',
  auto_update: 'registry',
  image_archive: 'images/nginx.tar',
  enabled: true,
};

/** A minimal docker-archive: a tar holding manifest.json, made by hand (one 512-byte header and its data). */
function dockerArchive(): Buffer {
  const data = Buffer.from('[]');
  const h = Buffer.alloc(512);
  h.write('manifest.json', 0);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\x0000', 257);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return Buffer.concat([h, data, Buffer.alloc(510), Buffer.alloc(1024)]);
}

/** Without Quadlet an empty argument goes through as well. */
const FALLBACK: Container = { ...WEB, command: [...(WEB.command ?? []), ''] };

function context(dir: string, c: Container = WEB): StepContext {
  const config = { version: 1, containers: [c] } as unknown as FlintConfig;
  return stepContext(dir, config, { configDir: dir, today: 20000, payloads: new Map([['file:images/nginx.tar', dockerArchive()]]) });
}

function fakePodman(dir: string): void {
  mkdirSync(join(dir, 'usr/bin'), { recursive: true });
  writeFileSync(join(dir, 'usr/bin/podman'), '');
  chmodSync(join(dir, 'usr/bin/podman'), 0o755);
}

describe.skipIf(!support.ok)(`containers on Debian 12, without Quadlet${support.ok ? '' : ` (SKIPPED: ${support.reason})`}`, () => {
  let root: FreshRoot;
  let plan: Plan;

  beforeAll(async () => {
    root = await freshRoot();
    fakePodman(root.dir);
    plan = planSteps(context(root.dir, FALLBACK), [containersStep]);
    if (plan.problems.length === 0) applyPlanned(new TargetRoot(root.dir), plan.planned);
  }, 300_000);

  afterAll(async () => {
    await root?.cleanup();
  });

  it('plans without problems and writes the fallback service', () => {
    expect(plan.problems).toEqual([]);
    expect(plan.planned.map((p) => p.action.path)).toEqual(
      expect.arrayContaining(['/etc/systemd/system/container-web.service', '/etc/systemd/system/flint-load-web.service', '/var/lib/flint/images/web.tar', '/etc/systemd/system/multi-user.target.wants/container-web.service']),
    );
  });

  it('passes the target\'s systemd-analyze verify', async () => {
    const r = await inChroot(root.dir, ['systemd-analyze', 'verify', '--man=no', '/etc/systemd/system/container-web.service', '/etc/systemd/system/flint-load-web.service']);
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.code).toBe(0);
  });

  it('runs the config\'s command word for word', () => {
    const text = new TargetRoot(root.dir).readText('/etc/systemd/system/container-web.service') ?? '';
    const argv = argvOf(values(text, 'Service', 'ExecStart')[0] ?? '', 'container-web.service');
    expect(argv.slice(argv.indexOf('docker.io/library/nginx:1.27'))).toEqual(['docker.io/library/nginx:1.27', ...(FALLBACK.command ?? [])]);
  });

  it('is enabled for the target\'s systemctl', async () => {
    const r = await inChroot(root.dir, ['systemctl', 'is-enabled', 'container-web.service']);
    expect(r.stdout.trim()).toBe('enabled');
  });

  it('plans nothing more the second time', () => {
    const again = planSteps(context(root.dir, FALLBACK), [containersStep]);
    expect(again.problems).toEqual([]);
    expect(again.planned).toEqual([]);
  });
});

const trixieCached = existsSync(join(cacheBase(), cacheDirName(TRIXIE_PODMAN)));
// Built like the bookworm root (about a minute, cached); FLINT_TEST_QUADLET=0 skips it.
const quadletWanted = support.ok && (trixieCached || process.env.FLINT_TEST_QUADLET !== '0');

describe.skipIf(!quadletWanted)(`containers on Debian 13, with Quadlet${quadletWanted ? '' : ' (SKIPPED: needs root and debootstrap, or FLINT_TEST_QUADLET=0 was set)'}`, () => {
  let root: FreshRoot;
  let plan: Plan;

  beforeAll(async () => {
    root = await freshRoot(TRIXIE_PODMAN);
    plan = planSteps(context(root.dir), [containersStep]);
    if (plan.problems.length === 0) applyPlanned(new TargetRoot(root.dir), plan.planned);
  }, 30 * 60_000);

  afterAll(async () => {
    await root?.cleanup();
  });

  it('writes a .container that the target\'s generator turns into the expected service', async () => {
    expect(plan.problems).toEqual([]);
    const r = await inChroot(root.dir, ['/usr/lib/systemd/system-generators/podman-system-generator', '--dryrun']);
    expect(r.stderr).not.toMatch(/error|unsupported/i);
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toContain('---web.service---');
    const service = out.slice(out.indexOf('---web.service---') + '---web.service---'.length).split(/\n---[^\n]*---\n/)[0] ?? '';
    expect(values(service, 'Install', 'WantedBy')).toEqual(['multi-user.target default.target']);
    expect(values(service, 'Unit', 'Requires')).toEqual(['flint-load-web.service']);
    expect(values(service, 'Service', 'Restart')).toEqual(['always']);
    // The words systemd will run, read from the generator's ExecStart=: each option of
    // the config must be there with its value intact, and the command at the end.
    const argv = argvOf(values(service, 'Service', 'ExecStart')[0] ?? '', 'web.service');
    const pairs = (flag: string): string[] => argv.flatMap((a, i) => (a === flag ? [argv[i + 1] ?? ''] : []));
    expect(pairs('--name')).toEqual(['web']);
    expect(pairs('--publish')).toEqual(['8080:80']);
    expect(pairs('-v')).toEqual(['/srv/web:/usr/share/nginx/html:ro']);
    expect(pairs('--env').sort()).toEqual(['GREETING=hello world $USER 100%', 'TZ=UTC']);
    expect(pairs('--label')).toEqual(['io.containers.autoupdate=registry']);
    expect(argv.slice(argv.indexOf('docker.io/library/nginx:1.27'))).toEqual(['docker.io/library/nginx:1.27', ...(WEB.command ?? [])]);
    // The generated service is the oracle's output; the target's systemd-analyze must accept it.
    mkdirSync(join(root.dir, 'run/systemd/generator'), { recursive: true });
    writeFileSync(join(root.dir, 'run/systemd/generator/web.service'), service);
    const v = await inChroot(root.dir, ['systemd-analyze', 'verify', '--man=no', '/run/systemd/generator/web.service']);
    expect(`${v.stdout}${v.stderr}`).not.toMatch(/web\.service:\d+/);
  });
});
