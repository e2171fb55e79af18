/**
 * Discovery on real loop devices carrying labelled vfat, ext4 and iso9660 filesystems,
 * built without mounting (mkfs.vfat + mtools, mkfs.ext4 -d, xorriso). Where this
 * kernel has no vfat or iso9660 driver, discovery reads those media in user space;
 * either way the same folder must come out. Needs root (losetup).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCmdline } from '../../src/discover/cmdline.js';
import { discover, DiscoveryError } from '../../src/discover/sources.js';
import { validateAny } from '../../src/convert/any.js';
import type { Found } from '../../src/discover/sources.js';
import { withMediaLock } from '../helpers/media-lock.js';
import { hostEnv, loopSupport, scratch } from '../helpers/host.js';
import type { Support } from '../helpers/host.js';

function support(): Support {
  return loopSupport([['blkid', 'util-linux'], ['mkfs.vfat', 'dosfstools'], ['mcopy', 'mtools'], ['mkfs.ext4', 'e2fsprogs'], ['xorriso', 'xorriso']], { bin: false });
}

const env = hostEnv;
const can = support();
const { tmp, dir } = scratch('flint-discover-');

type Files = Record<string, string>;
type Fs = 'vfat' | 'ext4' | 'iso9660';

function tree(files: Files): string {
  const d = dir('content');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(d, path, '..'), { recursive: true });
    writeFileSync(join(d, path), text);
  }
  return d;
}

function image(fs: Fs, label: string, files: Files): string {
  const img = join(dir('img'), 'medium.img');
  const content = tree(files);
  if (fs === 'ext4') {
    execFileSync('truncate', ['-s', '8M', img]);
    execFileSync('mkfs.ext4', ['-q', '-L', label, '-d', content, img], { env, stdio: 'ignore' });
  } else if (fs === 'iso9660') {
    execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-V', label, '-J', '-R', '-o', img, content], { env, stdio: 'ignore' });
  } else {
    execFileSync('truncate', ['-s', '8M', img]);
    execFileSync('mkfs.vfat', ['-n', label, img], { env, stdio: 'ignore' });
    // mcopy -s copies the whole tree in one go, folders included.
    execFileSync('mcopy', ['-s', '-i', img, ...Object.keys(files).map((p) => join(content, p.split('/')[0]!)).filter((v, i, a) => a.indexOf(v) === i), '::/'], { env });
  }
  return img;
}

async function withLoops<T>(imgs: readonly string[], fn: (devs: string[]) => Promise<T>): Promise<T> {
  const devs: string[] = [];
  try {
    for (const img of imgs) devs.push(execFileSync('losetup', ['-f', '--show', img], { encoding: 'utf8', env }).trim());
    return await fn(devs);
  } finally {
    for (const d of devs) spawnSync('losetup', ['-d', d], { env });
  }
}

interface Run {
  found?: Found;
  error?: string;
  log: string[];
  ms: number;
}

async function run(cmdline: string, timeoutMs = 2_000): Promise<Run> {
  const log: string[] = [];
  const t0 = Date.now();
  const emptyRoot = dir('sysroot');
  try {
    const found = await discover({ boot: parseCmdline(cmdline), sysroot: emptyRoot, fwCfg: join(tmp, 'no-fw-cfg'), sys: '/sys', work: dir('work'), timeoutMs, pollMs: 100, log: (l) => log.push(l) });
    return { ...(found !== undefined ? { found } : {}), log, ms: Date.now() - t0 };
  } catch (e) {
    if (e instanceof DiscoveryError) return { error: e.message, log, ms: Date.now() - t0 };
    throw e;
  }
}

const CONFIG = 'version: 1\nhostname: from-medium\n';

describe.skipIf(!can.ok)(`discovery on loop devices${can.ok ? '' : ` (SKIPPED: ${can.reason})`}`, () => {
  for (const [fs, label] of [['vfat', 'FLINT'], ['ext4', 'Flint'], ['iso9660', 'flint']] as const) {
    it(`finds flint/config.yaml on ${fs} labelled ${label}, with the payloads beside it`, () =>
      withMediaLock(async () => {
        const img = image(fs, label, { 'flint/config.yaml': CONFIG, 'flint/payload/motd': 'hello\n' });
        const r = await withLoops([img], async ([dev]) => {
          const res = await run('quiet');
          expect(res.found?.source).toBe(`flint/config.yaml on ${dev} (label ${label}, ${fs})`);
          expect(res.found?.medium).toEqual({ device: expect.objectContaining({ node: dev, label, type: fs }), folder: 'flint' });
          return res;
        });
        expect(r.error).toBeUndefined();
        expect(readFileSync(r.found!.configFile, 'utf8')).toBe(CONFIG);
        expect(readFileSync(join(r.found!.configFile, '../payload/motd'), 'utf8')).toBe('hello\n');
      }), 60_000);
  }

  it('with two candidates the label order decides: flint before combustion', () =>
    withMediaLock(async () => {
      const combustion = image('ext4', 'combustion', { 'flint/config.yaml': 'version: 1\nhostname: wrong\n' });
      const flint = image('vfat', 'FLINT', { 'flint/config.yaml': CONFIG });
      const r = await withLoops([combustion, flint], async ([, dev]) => {
        const res = await run('quiet');
        expect(res.found?.source).toContain(`on ${dev} (label FLINT, vfat)`);
        return res;
      });
      expect(readFileSync(r.found!.configFile, 'utf8')).toBe(CONFIG);
    }), 60_000);

  it('two media with the same label (in any case) is an error naming both', () =>
    withMediaLock(async () => {
      const a = image('iso9660', 'FLINT', { 'flint/config.yaml': CONFIG });
      const b = image('ext4', 'flint', { 'flint/config.yaml': CONFIG });
      await withLoops([a, b], async ([devA, devB]) => {
        const res = await run('quiet');
        expect(res.found).toBeUndefined();
        expect(res.error).toContain('2 filesystems are labelled flint');
        expect(res.error).toContain(devA);
        expect(res.error).toContain(devB);
      });
    }), 60_000);

  it('no medium: nothing found after the wait, and the log says what was passed over', () =>
    withMediaLock(async () => {
      const other = image('ext4', 'DATA', { 'notes.txt': 'x' });
      await withLoops([other], async ([dev]) => {
        const res = await run('quiet', 1_000);
        expect(res.found).toBeUndefined();
        expect(res.error).toBeUndefined();
        expect(res.ms).toBeGreaterThanOrEqual(1_000);
        expect(res.log.join('\n')).toContain(`${dev} (label DATA, ext4): passed over, not a label flint looks for`);
      });
    }), 60_000);

  it('waits for a medium that appears 3 s late', () =>
    withMediaLock(async () => {
      const img = image('vfat', 'flint', { 'flint/config.yaml': CONFIG });
      let dev: string | undefined;
      const late = new Promise<void>((resolve) =>
        setTimeout(() => {
          dev = execFileSync('losetup', ['-f', '--show', img], { encoding: 'utf8', env }).trim();
          resolve();
        }, 3_000),
      );
      try {
        const res = await run('quiet', 10_000);
        await late;
        expect(res.error).toBeUndefined();
        expect(res.found?.source).toBe(`flint/config.yaml on ${dev} (label flint, vfat)`);
        expect(res.ms).toBeGreaterThanOrEqual(3_000);
        expect(res.ms).toBeLessThan(10_000);
        expect(res.log.join('\n')).toMatch(/waiting up to 10 s for a config medium/);
      } finally {
        await late;
        if (dev !== undefined) spawnSync('losetup', ['-d', dev], { env });
      }
    }), 60_000);

  it('LABEL=NAME:/path on the command line reads that file from an ISO, whatever its label\'s case', () =>
    withMediaLock(async () => {
      const img = image('iso9660', 'SEED', { 'machines/web/config.yaml': CONFIG, 'machines/web/key.pub': 'k\n', 'other/secret': 's' });
      const r = await withLoops([img], () => run('flint.config=LABEL=seed:/machines/web/config.yaml'));
      expect(r.error).toBeUndefined();
      expect(readFileSync(r.found!.configFile, 'utf8')).toBe(CONFIG);
      expect(readFileSync(join(r.found!.configFile, '../key.pub'), 'utf8')).toBe('k\n');
      expect(existsSync(join(r.found!.configFile, '../../other'))).toBe(false);
      expect(r.found?.medium?.folder).toBe('machines/web');
    }), 60_000);

  it('reads the other tools\' configs in the spec\'s order: ignition/config.ign before combustion/script, a NoCloud seed last', () =>
    withMediaLock(async () => {
      const ign = '{"ignition": {"version": "3.3.0"}}';
      const both = image('vfat', 'IGNITION', { 'ignition/config.ign': ign, 'combustion/script': '#!/bin/sh\n' });
      const r = await withLoops([both], () => run('quiet'));
      expect(r.found?.format).toBe('ignition');
      expect(readFileSync(r.found!.configFile, 'utf8')).toBe(ign);
      // Both on one medium: the script comes along, beside the config, to run after it.
      expect(readFileSync(join(r.found!.configFile, '../combustion/script'), 'utf8')).toBe('#!/bin/sh\n');
      expect(validateAny(r.found!.configFile).config?.scripts).toEqual([{ name: 'combustion', stage: 'post', source: 'file:combustion/script' }]);
      const seed = image('iso9660', 'cidata', { 'user-data': '#cloud-config\n', 'meta-data': 'instance-id: x\n', 'network-config': 'version: 2\n' });
      const s = await withLoops([seed], () => run('quiet'));
      expect(s.found?.format).toBe('cloud-init');
      expect(s.found?.configFile.endsWith('/user-data')).toBe(true);
      expect(readFileSync(join(s.found!.configFile, '../network-config'), 'utf8')).toBe('version: 2\n');
    }), 60_000);
});
