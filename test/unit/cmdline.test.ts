/** Kernel command line parsing: the kernel's quoting and flint's options. */
import { describe, expect, it } from 'vitest';
import { parseCmdline, splitCmdline } from '../../src/discover/cmdline.js';
import { parseBlkidDevices, parseBlkidExport } from '../../src/system/blkid.js';

describe('splitCmdline', () => {
  it('splits on any whitespace and drops the trailing newline', () => {
    expect(splitCmdline('BOOT_IMAGE=/vmlinuz root=/dev/vda2  ro\tquiet\n')).toEqual(['BOOT_IMAGE=/vmlinuz', 'root=/dev/vda2', 'ro', 'quiet']);
  });
  it('groups spaces inside double quotes and removes the quotes', () => {
    expect(splitCmdline('a="b c" "d=e f" g')).toEqual(['a=b c', 'd=e f', 'g']);
  });
  it('keeps an empty quoted value', () => {
    expect(splitCmdline('a="" b')).toEqual(['a=', 'b']);
  });
  it('stops at --: what follows belongs to init', () => {
    expect(splitCmdline('ro -- flint.firstboot')).toEqual(['ro']);
  });
});

describe('parseCmdline', () => {
  it('reads an https URL with its sha512', () => {
    const sha = 'AB'.repeat(64);
    const o = parseCmdline(`flint.config=https://example.com/c.yaml flint.config.sha512=${sha}`);
    expect(o.config).toEqual({ kind: 'url', url: 'https://example.com/c.yaml' });
    expect(o.sha512).toBe(sha.toLowerCase());
    expect(o.problems).toEqual([]);
  });
  it('reads LABEL=NAME:/path, a quoted label with a space included', () => {
    expect(parseCmdline('flint.config=LABEL=CONF:/site/a.yaml').config).toEqual({ kind: 'label', label: 'CONF', path: '/site/a.yaml' });
    expect(parseCmdline('flint.config="LABEL=MY STICK:/flint.yaml"').config).toEqual({ kind: 'label', label: 'MY STICK', path: '/flint.yaml' });
  });
  it('refuses http, relative paths and .. with a message, and ignores the option', () => {
    for (const bad of ['http://example.com/c.yaml', 'LABEL=X:c.yaml', 'LABEL=X:/a/../b', '/dev/sdb1']) {
      const o = parseCmdline(`flint.config=${bad}`);
      expect(o.config).toBeUndefined();
      expect(o.problems).toHaveLength(1);
      expect(o.problems[0]).toContain('flint.config=');
    }
  });
  it('refuses a sha512 that is not 128 hex digits', () => {
    const o = parseCmdline('flint.config.sha512=abc');
    expect(o.sha512).toBeUndefined();
    expect(o.problems[0]).toContain('128 hexadecimal');
  });
  it('keeps the compatible ignition and combustion URLs', () => {
    const o = parseCmdline('ignition.config.url=https://a/i.ign combustion.url=https://b/script');
    expect(o.ignitionUrl).toBe('https://a/i.ign');
    expect(o.combustionUrl).toBe('https://b/script');
  });
  it('reads the first-boot flags bare or =1, and =0 turns one off', () => {
    expect(parseCmdline('ro').firstbootFlags).toEqual([]);
    expect(parseCmdline('flint.firstboot').firstbootFlags).toEqual(['flint.firstboot']);
    expect(parseCmdline('ignition.firstboot=1 combustion.firstboot').firstbootFlags).toEqual(['ignition.firstboot', 'combustion.firstboot']);
    expect(parseCmdline('flint.firstboot flint.firstboot=0').firstbootFlags).toEqual([]);
  });
  it('reads flint.timeout in seconds and flint.require', () => {
    const o = parseCmdline('flint.timeout=2.5 flint.require=1');
    expect(o.timeoutS).toBe(2.5);
    expect(o.require).toBe(true);
    expect(parseCmdline('flint.require=0').require).toBe(false);
    expect(parseCmdline('').require).toBe(false);
  });
  it('reads flint.trace (default off)', () => {
    expect(parseCmdline('').trace).toBe(false);
    expect(parseCmdline('flint.trace').trace).toBe(true);
    expect(parseCmdline('flint.trace=1 flint.trace=0').trace).toBe(false);
    expect(parseCmdline('flint.trace=lots').problems[0]).toContain('flint.trace=lots');
  });

  it('reads flint.report (default on) and flint.on_failure (default stop)', () => {
    expect(parseCmdline('').report).toBe(true);
    expect(parseCmdline('flint.report=0').report).toBe(false);
    expect(parseCmdline('flint.report=0 flint.report=1').report).toBe(true);
    expect(parseCmdline('').onFailure).toBe('stop');
    expect(parseCmdline('flint.on_failure=continue').onFailure).toBe('continue');
    const bad = parseCmdline('flint.on_failure=ignore');
    expect(bad.onFailure).toBe('stop');
    expect(bad.problems).toEqual(['flint.on_failure=ignore: expected stop or continue; ignored']);
    expect(parseCmdline('flint.report=maybe').problems[0]).toContain('flint.report=maybe');
  });
  it('reports a bad timeout and ignores it', () => {
    const o = parseCmdline('flint.timeout=soon');
    expect(o.timeoutS).toBeUndefined();
    expect(o.problems[0]).toContain('flint.timeout=soon');
  });
  it('lets the last occurrence win, as the kernel does', () => {
    expect(parseCmdline('flint.timeout=1 flint.timeout=3').timeoutS).toBe(3);
  });
  it('ignores other parameters that only look alike', () => {
    const o = parseCmdline('flint.configx=1 xflint.firstboot root=LABEL=flint');
    expect(o.config).toBeUndefined();
    expect(o.firstbootFlags).toEqual([]);
    expect(o.problems).toEqual([]);
  });
});

describe('parseBlkidExport', () => {
  it('reads KEY=VALUE lines, values with = and spaces kept', () => {
    const m = parseBlkidExport('DEVNAME=/dev/loop3\nLABEL=MY STICK\nUUID=1234-ABCD\nTYPE=vfat\nX=a=b\n');
    expect(m.get('LABEL')).toBe('MY STICK');
    expect(m.get('TYPE')).toBe('vfat');
    expect(m.get('X')).toBe('a=b');
  });

  it('reads every device of one blkid run, each block with its DEVNAME', () => {
    const ds = parseBlkidDevices('DEVNAME=/dev/sda\nLABEL=FLINT\nTYPE=vfat\n\nDEVNAME=/dev/vda\nPTUUID=x\nPTTYPE=gpt\n\nLABEL=orphan\n\nDEVNAME=/dev/mapper/a b\nTYPE=ext4\n');
    expect(ds.map((d) => d.node)).toEqual(['/dev/sda', '/dev/vda', '/dev/mapper/a b']);
    expect(ds[0]!.tags.get('LABEL')).toBe('FLINT');
    expect(ds[1]!.tags.get('TYPE')).toBeUndefined();
    expect(parseBlkidDevices('')).toEqual([]);
  });
});
