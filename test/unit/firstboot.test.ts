/** The first-boot rule: machine-id missing, empty or "uninitialized", or a flag. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decideFirstBoot, detectFirstBoot } from '../../src/discover/firstboot.js';
import { defaultTimeoutMs } from '../../src/discover/sources.js';

const none = { firstbootFlags: [] };

describe('decideFirstBoot', () => {
  it('is the first boot when machine-id is missing, empty or uninitialized', () => {
    expect(decideFirstBoot(undefined, none)).toEqual({ firstBoot: true, reason: '/etc/machine-id is missing' });
    expect(decideFirstBoot('', none).firstBoot).toBe(true);
    expect(decideFirstBoot('\n', none).firstBoot).toBe(true);
    expect(decideFirstBoot('uninitialized\n', none).firstBoot).toBe(true);
  });
  it('is not the first boot when machine-id is set', () => {
    expect(decideFirstBoot('0123456789abcdef0123456789abcdef\n', none)).toEqual({ firstBoot: false, reason: '/etc/machine-id is set' });
  });
  it('a first-boot flag wins over a set machine-id, and says which', () => {
    const r = decideFirstBoot('0123456789abcdef0123456789abcdef\n', { firstbootFlags: ['combustion.firstboot'] });
    expect(r.firstBoot).toBe(true);
    expect(r.reason).toContain('combustion.firstboot');
  });
});

describe('detectFirstBoot', () => {
  it('reads the target root, not the running system', () => {
    const root = mkdtempSync(join(tmpdir(), 'flint-fb-'));
    expect(detectFirstBoot(root, none).firstBoot).toBe(true);
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc/machine-id'), 'uninitialized\n');
    expect(detectFirstBoot(root, none).firstBoot).toBe(true);
    writeFileSync(join(root, 'etc/machine-id'), '0123456789abcdef0123456789abcdef\n');
    expect(detectFirstBoot(root, none).firstBoot).toBe(false);
  });
});

describe('defaultTimeoutMs', () => {
  it('waits 10 s, 30 s on aarch64', () => {
    expect(defaultTimeoutMs('x64')).toBe(10_000);
    expect(defaultTimeoutMs('arm64')).toBe(30_000);
  });
});
