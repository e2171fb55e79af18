/**
 * systemd-networkd's own parser as the oracle for the .network and .netdev files flint
 * writes: the files of every test connection and of every example config are put into a
 * Debian 13 root, and the root's systemd-networkd is started there for a few seconds in
 * a network namespace of its own (so it can touch no interface of this machine), with
 * debug logging. networkd logs every key it does not know and every value it cannot
 * parse as "FILE:LINE: ..."; for flint's files the only line allowed is
 * "Successfully loaded.".
 */
import { readdirSync, readFileSync } from 'node:fs';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connection } from '../../src/config/generated/model.js';
import { validateText } from '../../src/config/validate.js';
import { effectiveConfig } from '../../src/config/merge.js';
import { renderNetworkd } from '../../src/steps/network/networkd.js';
import type { NetworkdFile } from '../../src/steps/network/networkd.js';
import { TargetRoot } from '../../src/target/root.js';
import { NETWORKD } from '../fixtures/connections.js';
import { cacheBase, cacheDirName, freshRoot, hasRootfsSupport, inChroot } from './rootfs.js';
import type { FreshRoot } from './rootfs.js';
import { TRIXIE_PODMAN } from './rootfs-trixie.js';

const support = hasRootfsSupport();
const trixieCached = existsSync(join(cacheBase(), cacheDirName(TRIXIE_PODMAN)));
const wanted = support.ok && (trixieCached || process.env.FLINT_TEST_QUADLET !== '0');

/** The connections of each example (its hosts entries included), by example name. */
function exampleConnections(): Array<[string, Connection[]]> {
  const out: Array<[string, Connection[]]> = [];
  const dir = new URL('../../examples/', import.meta.url).pathname;
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
    const v = validateText(name, readFileSync(join(dir, name), 'utf8'));
    if (v.config === undefined) throw new Error(`${name} does not validate`);
    const raw = v.config as unknown as Record<string, unknown>;
    const conns: Connection[] = [...(v.config.network?.connections ?? [])];
    // Each hosts entry's connections too: the fleet example keeps them there.
    for (const h of v.config.hosts ?? []) {
      const { value } = effectiveConfig(raw, { ...(h.match.mac !== undefined ? { macs: [h.match.mac] } : {}), ...(h.match.serial !== undefined ? { serial: h.match.serial } : {}), ...(h.match.machine_uuid !== undefined ? { machineUuid: h.match.machine_uuid } : {}) });
      conns.push(...(((value as { network?: { connections?: Connection[] } }).network?.connections) ?? []).filter((c) => !conns.some((x) => x.name === c.name)));
    }
    if (conns.length > 0) out.push([name, conns]);
  }
  return out;
}

interface Checked {
  files: NetworkdFile[];
  log: string;
}

describe.skipIf(!wanted)(`networkd files parsed by systemd-networkd (Debian 13)${wanted ? '' : ` (SKIPPED: ${support.reason ?? 'FLINT_TEST_QUADLET=0 was set and the Debian 13 root is not cached'})`}`, () => {
  let root: FreshRoot;
  const results = new Map<string, Checked>();
  const sets: Array<[string, Connection[]]> = [['test connections', NETWORKD], ...exampleConnections()];

  beforeAll(async () => {
    root = await freshRoot(TRIXIE_PODMAN);
    const target = new TargetRoot(root.dir);
    // One set at a time: names may repeat between sets, and each run must see only its files.
    for (const [name, conns] of sets) {
      const r = renderNetworkd(conns, undefined);
      if (r.problems.length > 0) throw new Error(`${name}: ${JSON.stringify(r.problems)}`);
      const dir = join(root.dir, 'etc/systemd/network');
      for (const f of readdirSyncSafe(dir)) target.remove(`/etc/systemd/network/${f}`);
      for (const f of r.files) {
        mkdirSync(dirname(join(root.dir, f.path)), { recursive: true });
        target.writeFile(f.path, Buffer.from(f.text), f.secret ? 0o600 : 0o644, 0, 0);
      }
      const run = await inChroot(root.dir, ['unshare', '--net', 'timeout', '--preserve-status', '-s', 'TERM', '3', '/usr/lib/systemd/systemd-networkd'], { mounts: ['proc'], env: { SYSTEMD_LOG_LEVEL: 'debug', SYSTEMD_LOG_TARGET: 'console' }, timeoutMs: 60_000 });
      results.set(name, { files: r.files.filter((f) => f.path.startsWith('/etc/systemd/network/')), log: run.stdout + run.stderr });
    }
  }, 30 * 60_000);

  afterAll(async () => {
    await root?.cleanup();
  });

  for (const [name] of sets) {
    it(`${name}: every .network/.netdev file loads with no complaint`, () => {
      const got = results.get(name);
      expect(got, 'networkd did not run').toBeDefined();
      const { files, log } = got!;
      expect(files.length).toBeGreaterThan(0);
      expect(log).toContain('Loaded.');
      for (const f of files) {
        const lines = log.split('\n').filter((l) => l.startsWith(`${f.path}:`));
        expect(lines, `${f.path}:\n${f.text}`).toEqual([`${f.path}: Successfully loaded.`]);
      }
    });
  }

  it('the oracle catches a bad key and a bad value', async () => {
    const target = new TargetRoot(root.dir);
    for (const f of readdirSyncSafe(join(root.dir, 'etc/systemd/network'))) target.remove(`/etc/systemd/network/${f}`);
    target.writeFile('/etc/systemd/network/10-bad.network', Buffer.from('[Match]\nName=eth0\n[Network]\nBogusKey=1\nDNS=not-an-address\n'), 0o644, 0, 0);
    const run = await inChroot(root.dir, ['unshare', '--net', 'timeout', '--preserve-status', '-s', 'TERM', '3', '/usr/lib/systemd/systemd-networkd'], { mounts: ['proc'], env: { SYSTEMD_LOG_LEVEL: 'debug', SYSTEMD_LOG_TARGET: 'console' } });
    const lines = (run.stdout + run.stderr).split('\n').filter((l) => l.startsWith('/etc/systemd/network/10-bad.network:'));
    expect(lines.some((l) => l.includes("Unknown key 'BogusKey'"))).toBe(true);
    expect(lines.some((l) => /Failed to parse DNS server address/i.test(l))).toBe(true);
  });
});

function readdirSyncSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
