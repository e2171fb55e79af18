/**
 * The system step on synthetic roots: hostname (and /etc/hosts), timezone, locale and
 * keymap, each merged into what the image has, and nothing to do the second time.
 */
import { makeTargetRoot, stepContext } from '../helpers/step-context.js';
import { lstatSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FlintConfig } from '../../src/config/validate.js';
import { applyPlanned } from '../../src/engine/apply.js';
import { planSteps } from '../../src/engine/plan.js';
import type { Plan } from '../../src/engine/plan.js';
import type { StepContext } from '../../src/engine/step.js';
import { editHosts, localeInstalled, systemStep, x11Layout } from '../../src/steps/system/step.js';
import { setAssignments } from '../../src/steps/files/conffile.js';
import { TargetRoot } from '../../src/target/root.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const makeRoot = (files: Record<string, string | Buffer>): string => makeTargetRoot(files, dirs, 'flint-system-');

function context(root: string, config: Omit<FlintConfig, 'version'>): StepContext {
  return stepContext(root, { version: 1, ...config });
}

function applyTwice(ctx: StepContext): Plan {
  const first = planSteps(ctx, [systemStep]);
  expect(first.problems).toEqual([]);
  applyPlanned(ctx.root, first.planned);
  const second = planSteps(ctx, [systemStep]);
  expect(second.planned.map((p) => p.action.path)).toEqual([]);
  return first;
}

const text = (root: string, p: string) => readFileSync(join(root, p), 'utf8');
const TZIF = Buffer.concat([Buffer.from('TZif2'), Buffer.alloc(40)]);
const DEBIAN_HOSTS = '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n';

/** A locale-archive with just a header and its string table, as glibc lays it out. */
function localeArchive(names: string[]): Buffer {
  const strings = Buffer.from(names.map((n) => `${n}\0`).join(''));
  const head = Buffer.alloc(56);
  head.writeUInt32LE(0xde020109, 0);
  head.writeUInt32LE(56, 20);
  head.writeUInt32LE(strings.length, 24);
  head.writeUInt32LE(strings.length, 28);
  return Buffer.concat([head, strings]);
}

describe('hostname', () => {
  it('writes /etc/hostname and a 127.0.1.1 line on a Debian-family target', () => {
    const root = makeRoot({ 'etc/hostname': 'localhost\n', 'etc/hosts': DEBIAN_HOSTS, 'etc/debian_version': '12.5\n' });
    applyTwice(context(root, { hostname: 'pi-kitchen' }));
    expect(text(root, 'etc/hostname')).toBe('pi-kitchen\n');
    expect(text(root, 'etc/hosts')).toBe('127.0.0.1\tlocalhost\n127.0.1.1\tpi-kitchen\n::1\t\tlocalhost ip6-localhost ip6-loopback\n');
  });
  it('replaces the names on an existing 127.0.1.1 line, FQDN first', () => {
    const root = makeRoot({ 'etc/hostname': 'raspberrypi\n', 'etc/hosts': '127.0.0.1 localhost\n127.0.1.1    raspberrypi  # set by the image\n' });
    applyTwice(context(root, { hostname: 'pi-02.home.arpa' }));
    expect(text(root, 'etc/hostname')).toBe('pi-02.home.arpa\n');
    expect(text(root, 'etc/hosts')).toBe('127.0.0.1 localhost\n127.0.1.1    pi-02.home.arpa pi-02  # set by the image\n');
  });
  it('leaves /etc/hosts alone elsewhere', () => {
    expect(editHosts('127.0.0.1 localhost\n', 'box', false)).toBeUndefined();
    const root = makeRoot({ 'etc/hosts': '127.0.0.1 localhost\n' });
    const p = applyTwice(context(root, { hostname: 'box' }));
    expect(p.planned.map((x) => x.action.path)).toEqual(['/etc/hostname']);
  });
});

describe('timezone', () => {
  it('points /etc/localtime at the zone, relative, and updates an existing /etc/timezone', () => {
    const root = makeRoot({ 'usr/share/zoneinfo/Europe/Berlin': TZIF, 'etc/timezone': 'Etc/UTC\n' });
    applyTwice(context(root, { timezone: 'Europe/Berlin' }));
    expect(readlinkSync(join(root, 'etc/localtime'))).toBe('../usr/share/zoneinfo/Europe/Berlin');
    expect(text(root, 'etc/timezone')).toBe('Europe/Berlin\n');
  });
  it('writes no /etc/timezone where the target has none', () => {
    const root = makeRoot({ 'usr/share/zoneinfo/UTC': TZIF, 'etc/os-release': '' });
    applyTwice(context(root, { timezone: 'UTC' }));
    expect(lstatSync(join(root, 'etc/timezone'), { throwIfNoEntry: false })).toBeUndefined();
  });
  it('is a problem when the zone is not in the target', () => {
    const root = makeRoot({ 'usr/share/zoneinfo/Europe/Berlin': TZIF });
    for (const tz of ['Europe/Paris', 'Europe', '../../etc/passwd']) {
      const p = planSteps(context(root, { timezone: tz }), [systemStep]);
      expect(p.problems.map((x) => x.path)).toEqual([['timezone']]);
      expect(p.planned).toEqual([]);
    }
  });
});

describe('locale', () => {
  it('writes /etc/default/locale on Debian, keeping what is there, and warns about an uncompiled locale', () => {
    const root = makeRoot({ 'etc/debian_version': '12\n', 'etc/default/locale': '#  File generated by update-locale\nLC_MESSAGES=C\n' });
    const p = applyTwice(context(root, { locale: 'de_DE.UTF-8' }));
    expect(text(root, 'etc/default/locale')).toBe('#  File generated by update-locale\nLC_MESSAGES=C\nLANG=de_DE.UTF-8\n');
    expect(lstatSync(join(root, 'etc/locale.conf'), { throwIfNoEntry: false })).toBeUndefined();
    expect(p.warnings).toEqual(['locale de_DE.UTF-8 is not compiled in the target (not in /usr/lib/locale); programs fall back to the C locale until it is generated (locale-gen)']);
  });
  it('writes /etc/locale.conf elsewhere, and both files where both exist', () => {
    const root = makeRoot({ 'etc/os-release': 'ID=fedora\n', 'usr/lib/locale/locale-archive': localeArchive(['de_DE.utf8', 'en_US.utf8']) });
    const p = applyTwice(context(root, { locale: 'en_US.UTF-8' }));
    expect(text(root, 'etc/locale.conf')).toBe('LANG=en_US.UTF-8\n');
    expect(p.warnings).toEqual([]);
    const both = makeRoot({ 'etc/debian_version': '12\n', 'etc/locale.conf': 'LANG="C.UTF-8"\n' });
    applyTwice(context(both, { locale: 'C.UTF-8' }));
    expect(text(both, 'etc/locale.conf')).toBe('LANG="C.UTF-8"\n');
    expect(text(both, 'etc/default/locale')).toBe('LANG=C.UTF-8\n');
  });
  it('finds compiled locales in folders and in the archive', () => {
    const root = new TargetRoot(makeRoot({ 'usr/lib/locale/C.utf8/LC_CTYPE': '', 'usr/lib/locale/locale-archive': localeArchive(['en_US.utf8', 'de_DE@euro', 'en_GB.iso88591']) }));
    for (const l of ['C', 'POSIX', 'C.UTF-8', 'en_US.UTF-8', 'en_US.utf8', 'de_DE@euro', 'en_GB.ISO-8859-1']) expect(localeInstalled(root, l), l).toBe(true);
    for (const l of ['fr_FR.UTF-8', 'en_US']) expect(localeInstalled(root, l), l).toBe(false);
  });
});

describe('keymap', () => {
  const MAP = '# consolelayout\t\txlayout\txmodel\t\txvariant\txoptions\nde-latin1-nodeadkeys\tde\tpc105\t\tnodeadkeys\tterminate:ctrl_alt_bksp\nus\t\t\tus\tpc105+inet\t-\t\tterminate:ctrl_alt_bksp\n';
  it('sets KEYMAP in vconsole.conf, keeping the other keys', () => {
    const root = makeRoot({ 'etc/vconsole.conf': 'KEYMAP=us\nFONT=eurlatgr\n' });
    applyTwice(context(root, { keymap: 'de-nodeadkeys' }));
    expect(text(root, 'etc/vconsole.conf')).toBe('KEYMAP=de-nodeadkeys\nFONT=eurlatgr\n');
  });
  it('updates Debian\'s /etc/default/keyboard from kbd-model-map, or warns that it cannot', () => {
    const keyboard = '# KEYBOARD CONFIGURATION FILE\nXKBMODEL="pc105"\nXKBLAYOUT="us"\nXKBVARIANT=""\nXKBOPTIONS=""\n\nBACKSPACE="guess"\n';
    const root = makeRoot({ 'etc/default/keyboard': keyboard, 'usr/share/systemd/kbd-model-map': MAP });
    applyTwice(context(root, { keymap: 'de-latin1-nodeadkeys' }));
    expect(text(root, 'etc/default/keyboard')).toBe('# KEYBOARD CONFIGURATION FILE\nXKBMODEL="pc105"\nXKBLAYOUT="de"\nXKBVARIANT="nodeadkeys"\nXKBOPTIONS="terminate:ctrl_alt_bksp"\n\nBACKSPACE="guess"\n');
    expect(text(root, 'etc/vconsole.conf')).toBe('KEYMAP=de-latin1-nodeadkeys\n');
    const other = makeRoot({ 'etc/default/keyboard': keyboard, 'usr/share/systemd/kbd-model-map': MAP });
    const p = applyTwice(context(other, { keymap: 'dvorak-programmer' }));
    expect(p.warnings[0]).toMatch(/no X11 equivalent/);
    expect(text(other, 'etc/default/keyboard')).toBe(keyboard);
  });
  it('reads kbd-model-map', () => {
    expect(x11Layout(MAP, 'us')).toEqual({ layout: 'us', model: 'pc105+inet', variant: '', options: 'terminate:ctrl_alt_bksp' });
    expect(x11Layout(MAP, 'u')).toBeUndefined();
  });
});

describe('setAssignments', () => {
  it('replaces the first assignment, drops later ones, appends new keys, keeps the rest', () => {
    expect(setAssignments('# c\nA=1\nB=2\nA=3\n', [['A', 'x'], ['C', 'y z']])).toBe('# c\nA=x\nB=2\nC="y z"\n');
    expect(setAssignments(undefined, [['LANG', 'en_US.UTF-8']])).toBe('LANG=en_US.UTF-8\n');
    expect(setAssignments('LANG=C', [['LANG', 'C']])).toBe('LANG=C');
    expect(setAssignments("export LANG='de_DE.UTF-8'\n", [['LANG', 'en_US.UTF-8']])).toBe('LANG="en_US.UTF-8"\n');
  });
});
