/** The storage planner, fstab editor and sfdisk script writer, without any disk. */
import { describe, expect, it } from 'vitest';
import { planDisk, lastUsableSector } from '../../src/steps/storage/layout.js';
import type { DiskFacts } from '../../src/steps/storage/layout.js';
import { formatTable, GPT_TYPE_GUIDS, humanBytes, parseSfdiskJson, partitionNode, sfdiskScript } from '../../src/steps/storage/gpt.js';
import type { PartEntry } from '../../src/steps/storage/gpt.js';
import { editFstab } from '../../src/steps/storage/fstab.js';
import { mkfsArgs } from '../../src/steps/storage/execute.js';
import { validateText } from '../../src/config/validate.js';

const GiB = 1024 ** 3;
const S = 512;
const at = ['storage', 'disks', 0];

/** The Raspberry-Pi-style raw image: ESP + root on 2 GiB, written to a bigger disk. */
function image(diskBytes: number, extra: PartEntry[] = []): DiskFacts {
  return {
    path: '/dev/sda',
    sizeBytes: diskBytes,
    sectorSize: S,
    table: {
      label: 'gpt',
      id: 'AAAA',
      firstLba: 2048,
      lastLba: (2 * GiB) / S - 34,
      partitions: [
        { number: 1, start: 2048, size: 524288, type: GPT_TYPE_GUIDS.esp!, uuid: 'U1', name: 'esp' },
        { number: 2, start: 526336, size: 3665920, type: GPT_TYPE_GUIDS.linux!, uuid: 'U2', name: 'root' },
        ...extra,
      ],
    },
    rootPartition: 2,
    protectedParts: new Map([[2, 'holds the root filesystem']]),
    fsTypes: new Map([[1, 'vfat'], [2, 'btrfs']]),
  };
}

describe('planDisk', () => {
  it('grows root up to new partitions packed at the end of the disk, all on MiB boundaries', () => {
    const l = planDisk(image(16 * GiB), { device: 'root', partitions: [{ label: 'var', size: '6GiB', type: 'var' }, { label: 'swap', size: '1GiB', type: 'swap' }] }, true, at);
    expect(l.problems).toEqual([]);
    expect(l.relocate).toBe(true);
    const end = Math.floor((lastUsableSector(16 * GiB, S) + 1) / 2048) * 2048;
    const [, root, v, swap] = l.after;
    expect(swap).toMatchObject({ number: 4, name: 'swap', size: GiB / S, start: end - GiB / S, type: GPT_TYPE_GUIDS.swap });
    expect(v).toMatchObject({ number: 3, name: 'var', size: (6 * GiB) / S, start: end - (7 * GiB) / S });
    expect(root!.start + root!.size).toBe(v!.start);
    expect(l.rootGrowth).toEqual({ number: 2, from: 3665920, to: v!.start - 526336 });
    expect(l.created).toEqual([3, 4]);
    expect(l.destroys).toEqual([]);
  });

  it('plans nothing when the disk already is as the config says (second run)', () => {
    const first = planDisk(image(16 * GiB), { device: 'root', partitions: [{ label: 'var', size: '6GiB', type: 'var' }, { label: 'swap', size: '1GiB', type: 'swap' }] }, true, at);
    const now = image(16 * GiB);
    now.table = { ...now.table, lastLba: lastUsableSector(16 * GiB, S), partitions: first.after };
    const second = planDisk(now, { device: 'root', partitions: [{ label: 'var', size: '6GiB', type: 'var' }, { label: 'swap', size: '1GiB', type: 'swap' }] }, true, at);
    expect(second).toMatchObject({ relocate: false, wipeTable: false, created: [], deleted: [], problems: [] });
    expect(second.rootGrowth).toBeUndefined();
  });

  it('without grow_root puts new partitions right after the last one; the last without size takes the rest', () => {
    const l = planDisk(image(16 * GiB), { device: 'root', partitions: [{ label: 'var', size: '6GiB' }, { label: 'data' }] }, false, at);
    expect(l.problems).toEqual([]);
    const [, , v, data] = l.after;
    expect(v!.start).toBe(4192256);
    expect(data!.start).toBe(v!.start + v!.size);
    expect(data!.start + data!.size - 1).toBeLessThanOrEqual(lastUsableSector(16 * GiB, S));
    expect((data!.start + data!.size) % 2048).toBe(0);
    expect(l.rootGrowth).toBeUndefined();
  });

  it('refuses partitions bigger than the free space, naming both sizes', () => {
    const l = planDisk(image(16 * GiB), { device: 'root', partitions: [{ label: 'var', size: '20GiB' }] }, true, at);
    expect(l.problems).toHaveLength(1);
    expect(l.problems[0]!.message).toMatch(/need 20 GiB, but \/dev\/sda \(16 GiB\) has only 14 GiB free/);
    expect(l.problems[0]!.path).toEqual([...at, 'partitions']);
  });

  it('refuses a different size or type without replace, and deletes and recreates with it', () => {
    const old: PartEntry = { number: 3, start: 4192256, size: (2 * GiB) / S, type: GPT_TYPE_GUIDS.linux!, uuid: 'U3', name: 'var' };
    const facts = image(16 * GiB, [old]);
    facts.fsTypes = new Map([...facts.fsTypes, [3, 'ext4']]);
    const refused = planDisk(facts, { device: 'root', partitions: [{ label: 'var', size: '6GiB' }] }, false, at);
    expect(refused.problems[0]).toMatchObject({ path: [...at, 'partitions', 0], message: expect.stringMatching(/exists on \/dev\/sda as 2 GiB linux; the config asks for 6GiB linux/), hint: expect.stringMatching(/replace: true/) });
    const typeOnly = planDisk(facts, { device: 'root', partitions: [{ label: 'var', size: '2GiB', type: 'var' }] }, false, at);
    expect(typeOnly.problems).toHaveLength(1);
    const replaced = planDisk(facts, { device: 'root', partitions: [{ label: 'var', size: '6GiB', replace: true }] }, false, at);
    expect(replaced.problems).toEqual([]);
    expect(replaced.destroys).toEqual(['partition 3 (var, 2 GiB, ext4 filesystem)']);
    expect(replaced.after.find((e) => e.name === 'var')).toMatchObject({ number: 3, start: 4192256, size: (6 * GiB) / S });
    expect(replaced.after.find((e) => e.name === 'var')!.uuid).toBeUndefined();
  });

  it('never replaces or wipes a partition in use', () => {
    const facts = image(16 * GiB);
    const root = planDisk(facts, { device: 'root', partitions: [{ label: 'root', size: '4GiB', replace: true }] }, false, at);
    expect(root.problems[0]!.message).toMatch(/replace would delete partition 2 \("root"\) of \/dev\/sda, which holds the root filesystem/);
    const wipe = planDisk(facts, { device: 'root', wipe_table: true, partitions: [{ label: 'data' }] }, false, at);
    expect(wipe.problems[0]!.message).toMatch(/wipe_table would delete partition 2 \(root\) .* holds the root filesystem/);
  });

  it('wipe_table replaces a table only when it differs from the config', () => {
    const facts: DiskFacts = { ...image(1 * GiB), rootPartition: undefined, protectedParts: new Map() };
    const wipe = planDisk(facts, { device: '/dev/sda', wipe_table: true, partitions: [{ label: 'data' }] }, false, at);
    expect(wipe.problems).toEqual([]);
    expect(wipe.wipeTable).toBe(true);
    expect(wipe.destroys).toHaveLength(2);
    expect(wipe.after).toEqual([{ number: 1, start: 2048, size: expect.any(Number), type: GPT_TYPE_GUIDS.linux, name: 'data' }]);
    const same = { ...facts, table: { ...facts.table, lastLba: lastUsableSector(GiB, S), partitions: wipe.after } };
    expect(planDisk(same, { device: '/dev/sda', wipe_table: true, partitions: [{ label: 'data' }] }, false, at)).toMatchObject({ wipeTable: false, created: [], destroys: [] });
  });

  it('a blank disk gets a new table; an MBR disk is refused', () => {
    const blank: DiskFacts = { path: '/dev/sdb', sizeBytes: GiB, sectorSize: S, table: { label: 'none', firstLba: 34, lastLba: 0, partitions: [] }, protectedParts: new Map(), fsTypes: new Map() };
    const l = planDisk(blank, { device: '/dev/sdb', partitions: [{ label: 'a', size: '100MiB' }, { label: 'b', size: '100%' }] }, false, at);
    expect(l.problems).toEqual([]);
    expect(l.after.map((e) => [e.number, e.start, e.name])).toEqual([[1, 2048, 'a'], [2, 2048 + 204800, 'b']]);
    const mbr = planDisk({ ...blank, table: { ...blank.table, label: 'dos' } }, { device: '/dev/sdb', partitions: [{ label: 'a' }] }, false, at);
    expect(mbr.problems[0]!.message).toMatch(/MBR \(dos\)/);
  });

  it('percent sizes are shares of the usable disk; grow_root and a rest partition conflict', () => {
    const l = planDisk(image(16 * GiB), { device: 'root', partitions: [{ label: 'half', size: '50%' }] }, false, at);
    expect(l.after.find((e) => e.name === 'half')!.size % 2048).toBe(0);
    expect(Math.abs(l.after.find((e) => e.name === 'half')!.size * S - 8 * GiB)).toBeLessThan(2 * 1024 * 1024);
    const both = planDisk(image(16 * GiB), { device: 'root', partitions: [{ label: 'rest' }] }, true, at);
    expect(both.problems[0]!.message).toMatch(/grow_root and this partition both want the rest/);
  });
});

describe('sfdisk tables', () => {
  it('reads sfdisk --json and writes a script that keeps ids and omits last-lba', () => {
    const t = parseSfdiskJson(JSON.stringify({ partitiontable: { label: 'gpt', id: 'ID-1', device: '/dev/loop0', unit: 'sectors', firstlba: 2048, lastlba: 4194270, sectorsize: 512, partitions: [{ node: '/dev/loop0p1', start: 2048, size: 524288, type: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', uuid: 'f61a', name: 'esp' }] } }));
    expect(t).toEqual({ label: 'gpt', id: 'ID-1', firstLba: 2048, lastLba: 4194270, partitions: [{ number: 1, start: 2048, size: 524288, type: GPT_TYPE_GUIDS.esp, uuid: 'F61A', name: 'esp' }] });
    const script = sfdiskScript('/dev/loop0', t, [...t.partitions, { number: 2, start: 526336, size: 2048, type: GPT_TYPE_GUIDS.var!, name: 'var' }]);
    expect(script).toBe(`label: gpt\nlabel-id: ID-1\nunit: sectors\n\n/dev/loop0p1 : start=2048, size=524288, type=${GPT_TYPE_GUIDS.esp}, uuid=F61A, name="esp"\n/dev/loop0p2 : start=526336, size=2048, type=${GPT_TYPE_GUIDS.var}, name="var"\n`);
    expect(partitionNode('sda', 3)).toBe('sda3');
    expect(partitionNode('nvme0n1', 3)).toBe('nvme0n1p3');
  });

  it('shows a table people can read', () => {
    const rows = formatTable([{ number: 2, start: 526336, size: 3665920, type: GPT_TYPE_GUIDS.linux!, name: 'root' }, { number: 1, start: 2048, size: 524288, type: GPT_TYPE_GUIDS.esp!, name: 'esp' }], 512, new Map([[2, 'grown']]));
    expect(rows).toEqual([
      '#  start   end      size      type   name',
      '1  2048    526335   256 MiB   esp    esp',
      '2  526336  4192255  1.75 GiB  linux  root  grown',
    ]);
    expect(humanBytes(1.5 * 1024 ** 4)).toBe('1.5 TiB');
  });
});

describe('fstab', () => {
  const v = { spec: 'UUID=1111', file: '/var', vfstype: 'btrfs', options: ['noatime'], pass: 0 };
  const swap = { spec: 'UUID=2222', file: 'none', vfstype: 'swap', options: ['defaults'], pass: 0 };
  it('replaces the line of the same mount point (a MicroOS /var subvolume) and appends the rest', () => {
    const before = '# comment\nUUID=root /  btrfs  defaults 0 0\nUUID=root /var btrfs subvol=/@/var,x-initrd.mount 0 0\n';
    const after = editFstab(before, [v, swap]);
    expect(after).toBe('# comment\nUUID=root /  btrfs  defaults 0 0\nUUID=1111 /var btrfs noatime 0 0\nUUID=2222 none swap defaults 0 0\n');
    expect(editFstab(after, [v, swap])).toBe(after);
  });
  it('creates the file and escapes spaces', () => {
    expect(editFstab(undefined, [{ ...v, file: '/srv/my data', vfstype: 'ext4', options: [], pass: 2 }])).toBe('UUID=1111 /srv/my\\040data ext4 defaults 0 2\n');
  });
});

describe('mkfs', () => {
  it('gives each filesystem the UUID the plan chose, and its label', () => {
    expect(mkfsArgs({ format: 'xfs', label: 'var', uuid: 'u-1', node: '/dev/sda3' })).toEqual(['mkfs.xfs', ['-q', '-f', '-m', 'uuid=u-1', '-L', 'var', '/dev/sda3']]);
    expect(mkfsArgs({ format: 'vfat', uuid: 'ABCD-1234', node: '/dev/sda1' })).toEqual(['mkfs.vfat', ['-i', 'ABCD1234', '/dev/sda1']]);
    expect(mkfsArgs({ format: 'swap', label: 'swap', uuid: 'u-2', node: '/dev/sda4' })[1]).toEqual(['-f', '-U', 'u-2', '-L', 'swap', '/dev/sda4']);
  });
});

describe('storage checks in validate', () => {
  it('refuses a partition label sfdisk cannot quote', () => {
    const r = validateText('c.yaml', 'version: 1\nstorage:\n  disks:\n    - device: root\n      partitions:\n        - {label: \'a"b\', size: 1GiB}\n');
    expect(r.diagnostics.map((d) => d.message)).toContain('a GPT partition label may not hold double quotes, backslashes or control characters');
  });
});
