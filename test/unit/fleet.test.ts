/**
 * Issue 22's first part: URL templates in flint.config= and `flint fleet build`'s
 * files. Each per-machine file is what flint would apply from the shared config on that
 * machine; modes keep their octal text; what cannot be served is refused.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCmdline } from '../../src/discover/cmdline.js';
import { fillUrlTemplate, placeholdersOf } from '../../src/discover/url-template.js';
import { effectiveConfig } from '../../src/config/merge.js';
import { validateText } from '../../src/config/validate.js';
import { digestLine, fleetFiles, FleetError } from '../../src/media/fleet.js';
import { prepareConfig } from '../../src/media/prepare.js';

const tmp = mkdtempSync(join(tmpdir(), 'flint-fleet-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('URL templates', () => {
  const facts = { macs: ['52:54:00:12:34:56', '52:54:00:ab:cd:ef'], serial: '10000000a1b2c3d4', machineUuid: '4c4c4544-0042-3510-8052-b3c04f4e4a31', hostname: 'node-7' };

  it('fills {mac}, {serial}, {uuid} and {hostname}, the MAC hyphenated, values percent-encoded', () => {
    expect(fillUrlTemplate('https://s/flint/by-mac/{mac}.yaml', facts)).toEqual({ url: 'https://s/flint/by-mac/52-54-00-12-34-56.yaml' });
    expect(fillUrlTemplate('https://s/{serial}/{uuid}/{hostname}.yaml', facts)).toEqual({ url: 'https://s/10000000a1b2c3d4/4c4c4544-0042-3510-8052-b3c04f4e4a31/node-7.yaml' });
    expect(fillUrlTemplate('https://s/{serial}.yaml', { serial: 'A B/C' })).toEqual({ url: 'https://s/A%20B%2FC.yaml' });
  });

  it('{mac} is the boot interface\'s when BOOTIF= names it (PXE), else the first interface\'s', () => {
    const boot = parseCmdline('BOOTIF=01-52-54-00-ab-cd-ef flint.config=https://s/{mac}.yaml');
    expect(boot.bootif).toBe('01-52-54-00-ab-cd-ef');
    expect(fillUrlTemplate('https://s/{mac}.yaml', { ...facts, bootif: boot.bootif! })).toEqual({ url: 'https://s/52-54-00-ab-cd-ef.yaml' });
  });

  it('a value the machine does not have is a problem that names it; an unknown placeholder is refused on the command line', () => {
    expect(fillUrlTemplate('https://s/{uuid}.yaml', { macs: ['52:54:00:12:34:56'] })).toEqual({ problem: '{uuid}: this machine has no DMI product UUID in /sys/class/dmi/id/product_uuid' });
    expect(fillUrlTemplate('https://s/{hostname}.yaml', { hostname: 'localhost' })).toMatchObject({ problem: expect.stringMatching(/^\{hostname\}: this machine has no host name yet/) });
    expect(placeholdersOf('https://s/{mac}/{ip}')).toEqual({ used: ['mac'], unknown: ['ip'] });
    const boot = parseCmdline('flint.config=https://s/{ip}.yaml');
    expect(boot.config).toBeUndefined();
    expect(boot.problems).toEqual(['flint.config=: {ip} is not a placeholder flint fills ({mac}, {serial}, {uuid}, {hostname}); ignored']);
  });
});

describe('flint fleet build: the files', () => {
  const CONFIG = `version: 1
hostname: node
users:
  - name: admin
    password: "correct horse battery"
    ssh_authorized_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA2W4ylBpNwsCJJgCIJv6S+GBdb8LJg1OwHVwgsBw43P admin@laptop"]
files:
  - path: /etc/motd
    mode: 0640
    contents: "fleet\\n"
hosts:
  - match: {mac: "DC:A6:32:AA:BB:01"}
    hostname: node-01
    files:
      - {path: /etc/role, mode: 0600, contents: "db\\n"}
  - match: {serial: "10000000a1b2c3d4"}
    hostname: node-03
`;

  it('one file per hosts entry and a default, each what flint applies on that machine, modes as written, passwords hashed', async () => {
    const file = join(tmp, 'fleet.yaml');
    writeFileSync(file, CONFIG);
    const p = await prepareConfig(file);
    const files = fleetFiles(p, file);
    expect(files.map((f) => [f.rel, f.machine])).toEqual([
      ['by-mac/dc-a6-32-aa-bb-01.yaml', 'mac DC:A6:32:AA:BB:01'],
      ['by-serial/10000000a1b2c3d4.yaml', 'serial 10000000a1b2c3d4'],
      ['default.yaml', 'any other machine'],
    ]);
    // The shared config as flint validates it (modes as numbers), merged for each machine.
    const shared = validateText(file, p.text).config as unknown as Record<string, unknown>;
    const machines = [{ macs: ['dc:a6:32:aa:bb:01'] }, { serial: '10000000a1b2c3d4' }, { macs: ['00:11:22:33:44:55'] }];
    files.forEach((f, i) => {
      expect(f.text).not.toContain('correct horse');
      expect(f.text).toMatch(/mode: "?0640"?/);
      const own = validateText(f.rel, f.text);
      expect(own.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      expect(own.config).toEqual(effectiveConfig(shared, machines[i]!).value);
    });
    expect(files[0]!.text).toMatch(/path: \/etc\/role\n\s+mode: "?0600"?/);
    expect(digestLine(files[0]!)).toBe(`${files[0]!.sha512}  dc-a6-32-aa-bb-01.yaml\n`);
  });

  it('refuses a match on two keys, two entries for one machine, and file: payloads', async () => {
    const cases: Array<[string, RegExp]> = [
      [CONFIG.replace('match: {serial: "10000000a1b2c3d4"}', 'match: {serial: "1", mac: "dc:a6:32:aa:bb:09"}'), /hosts\[1\] matches on serial and mac: a machine finds its file by one of mac, serial or machine_uuid/],
      [CONFIG.replace('match: {serial: "10000000a1b2c3d4"}', 'match: {mac: "dc:a6:32:aa:bb:01"}'), /hosts\[1\] and hosts\[0\] are for the same machine/],
      [`${CONFIG.split('hosts:')[0]}  - {path: /etc/x, source: "file:x.txt"}\n`, /names files on a medium \(file:x\.txt\); a config fetched over https has no medium/],
    ];
    for (const [text, msg] of cases) {
      const file = join(tmp, 'bad.yaml');
      writeFileSync(file, text);
      writeFileSync(join(tmp, 'x.txt'), 'x');
      const p = await prepareConfig(file);
      expect(() => fleetFiles(p, file)).toThrow(FleetError);
      expect(() => fleetFiles(p, file)).toThrow(msg);
    }
  });
});
