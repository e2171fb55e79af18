import { describe, expect, it } from 'vitest';
import {
  checkCountryCode,
  checkDropinName,
  checkHostname,
  checkImageReference,
  checkSafePath,
  checkTimezone,
  checkUnitName,
  installDirectives,
  isFullyQualifiedImage,
  normalisePath,
  parseSize,
  unitHasInstallSection,
} from '../../src/config/checks/names.js';
import { isProblem } from '../../src/config/checks/problem.js';

describe('checkHostname', () => {
  it.each([
    'pi-kitchen', 'a', 'PI-Kitchen', 'node1', '1node', 'pi-kitchen.home.arpa', 'host.example.com', 'a-b-c',
    'x'.repeat(63), `${'a'.repeat(62)}.b`, 'web01.example.co.uk', '0x1f.example.com',
  ])('accepts %s', (s) => {
    expect(checkHostname(s)).toBeNull();
  });

  it.each([
    ['', 'empty', undefined],
    ['pi-kitchen.', 'ends with a dot', 'write pi-kitchen'],
    ['host.example.com.', 'ends with a dot', 'write host.example.com'],
    ['pi_kitchen', '"_"', 'write pi-kitchen'],
    ['my_pi.home_lab.arpa', '"_"', 'write my-pi.home-lab.arpa'],
    ['-pi', 'starts or ends with "-"', 'write pi'],
    ['pi-', 'starts or ends with "-"', 'write pi'],
    ['pi.-lab.arpa', 'starts or ends with "-"', undefined],
    ['pi..lab', 'empty part', 'write pi.lab'],
    ['.pi', 'empty part', 'write pi'],
    ['pi kitchen', '" "', undefined],
    ['pi/kitchen', '"/"', undefined],
    ['küche', '"ü"', undefined],
    ['x'.repeat(64), 'at most 63', undefined],
    ['192.168.1.20', 'IP address', undefined],
    ['fe80::1', 'IP address', undefined],
    ['1234', 'all digits', undefined],
    ['host.123', 'all digits', undefined],
    [Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.'), 'at most 253', undefined],
  ])('refuses %j', (s, inMessage, hint) => {
    const p = checkHostname(s);
    expect(p?.message).toContain(inMessage);
    expect(p?.severity).toBeUndefined();
    if (hint !== undefined) expect(p?.hint).toBe(hint);
  });

  it('warns about names longer than Linux keeps (64 characters)', () => {
    expect(checkHostname(`${'a'.repeat(32)}.${'b'.repeat(31)}`)).toBeNull(); // exactly 64
    const p = checkHostname(`${'a'.repeat(32)}.${'b'.repeat(32)}`);
    expect(p).toMatchObject({ severity: 'warning' });
    expect(p?.message).toContain('65 characters');
  });
});

describe('checkTimezone', () => {
  it.each([
    'Europe/Berlin', 'America/New_York', 'UTC', 'Etc/UTC', 'Etc/GMT+5', 'Etc/GMT-14', 'GMT', 'US/Pacific', 'Asia/Kolkata',
    'Asia/Calcutta', 'Europe/Kyiv', 'Europe/Kiev', 'America/Argentina/Buenos_Aires', 'America/Indiana/Indianapolis',
    'CET', 'EST5EDT', 'Zulu', 'Australia/Lord_Howe', 'Antarctica/Troll', 'America/Port-au-Prince', 'Pacific/Kanton',
  ])('accepts %s', (s) => {
    expect(checkTimezone(s)).toBeNull();
  });

  it.each([
    ['europe/berlin', 'write Europe/Berlin'],
    ['EUROPE/BERLIN', 'write Europe/Berlin'],
    ['utc', 'write UTC'],
    ['etc/utc', 'write Etc/UTC'],
    ['us/pacific', 'write US/Pacific'],
    ['Etc/gmt+5', 'write Etc/GMT+5'],
    ['america/new_york', 'write America/New_York'],
  ])('refuses the case variant %s', (s, hint) => {
    const p = checkTimezone(s);
    expect(p?.message).toContain('wrong case');
    expect(p?.hint).toBe(hint);
  });

  it.each([
    ['Europe/Berln', 'did you mean Europe/Berlin?'],
    ['Europe/Berlin ', 'did you mean Europe/Berlin?'],
    ['America/New York', 'did you mean America/New_York?'],
    ['Berlin', 'did you mean Europe/Berlin?'],
    ['new york', 'did you mean America/New_York?'],
    ['Asia/Tokio', 'did you mean Asia/Tokyo?'],
  ])('suggests a name for %j', (s, hint) => {
    const p = checkTimezone(s);
    expect(p?.message).toContain('not a time zone name');
    expect(p?.hint).toBe(hint);
  });

  it.each(['', 'Mars/Olympus_Mons', 'Local', 'localtime', 'posixrules', '+01:00'])('refuses %j', (s) => {
    const p = checkTimezone(s);
    expect(p).not.toBeNull();
    expect(p?.severity).toBeUndefined();
  });

  it('only warns about a name ICU knows but the tz database does not', () => {
    // ICU still knows some legacy three-letter ids that have no file under /usr/share/zoneinfo.
    expect(checkTimezone('IST')).toMatchObject({ severity: 'warning' });
  });
});

describe('checkUnitName', () => {
  it.each([
    'backup.service', 'foo@.service', 'foo@bar.service', 'getty@tty1.service', 'var-lib.mount', 'dev-sda1.swap',
    'multi-user.target', 'nightly.timer', 'docker.socket', 'watch.path', 'user.slice', 'proc-sys.automount',
    'dev-sdb.device', 'dbus-org.freedesktop.hostname1.service', 'a:b_c.service', 'sys-devices-x\\x2dy.device',
    `${'a'.repeat(247)}.service`,
  ])('accepts %s', (s) => {
    expect(checkUnitName(s)).toBeNull();
  });

  it.each([
    ['', 'empty', undefined],
    ['backup', 'does not end in a unit type', 'write backup.service'],
    ['backup.servce', 'does not end in a unit type', 'write backup.service'],
    ['backup.timr', 'does not end in a unit type', 'write backup.timer'],
    ['backup.sh', 'does not end in a unit type', 'write backup.sh.service'],
    ['backup.Service', 'does not end in a unit type', 'write backup.service'],
    ['.service', 'no name before its suffix', undefined],
    ['@foo.service', 'no name before its "@"', undefined],
    ['a@b@c.service', 'more than once', undefined],
    ['my backup.service', '" "', undefined],
    ['back/up.service', '"/"', undefined],
    ['bäckup.service', '"ä"', undefined],
    ['var@x.mount', '.mount units cannot be templates', 'remove the "@" part, e.g. var.mount'],
    ['x@.slice', '.slice units cannot be templates', undefined],
    [`${'a'.repeat(248)}.service`, 'at most 255', undefined],
  ])('refuses %j', (s, inMessage, hint) => {
    const p = checkUnitName(s);
    expect(p?.message).toContain(inMessage);
    expect(p?.severity).toBeUndefined();
    if (hint !== undefined) expect(p?.hint).toBe(hint);
  });

  it('warns that scope units cannot come from files', () => {
    expect(checkUnitName('session.scope')).toMatchObject({ severity: 'warning' });
  });
});

describe('checkDropinName', () => {
  it.each(['10-env.conf', 'override.conf', 'a.b.conf'])('accepts %s', (s) => {
    expect(checkDropinName(s)).toBeNull();
  });

  it.each([
    ['', 'empty', '10-override.conf'],
    ['10-env', 'does not end in .conf', 'write 10-env.conf'],
    ['10-env.cfg', 'does not end in .conf', 'write 10-env.cfg.conf'],
    ['backup.service.d/10-env.conf', 'contains "/"', 'write 10-env.conf'],
    ['.conf', 'starts with a dot', 'write 10-override.conf'],
    ['.hidden.conf', 'starts with a dot', 'write hidden.conf'],
    ['a\0.conf', 'NUL', undefined],
  ])('refuses %j', (s, inMessage, hint) => {
    const p = checkDropinName(s);
    expect(p?.message).toContain(inMessage);
    if (hint !== undefined) expect(p?.hint).toContain(hint);
  });
});

const BACKUP = `[Unit]
Description=Nightly backup
[Service]
ExecStart=/usr/local/bin/backup
[Install]
WantedBy=multi-user.target
`;

describe('unitHasInstallSection and installDirectives', () => {
  it('finds [Install] and its WantedBy', () => {
    expect(unitHasInstallSection(BACKUP)).toBe(true);
    expect(installDirectives(BACKUP)).toEqual(['WantedBy']);
  });

  it.each([
    ['no [Install]', '[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n', false],
    ['commented with #', '[Service]\nExecStart=/bin/true\n#[Install]\n#WantedBy=multi-user.target\n', false],
    ['commented with ;', '[Service]\n; [Install]\n', false],
    ['inside a value', '[Service]\nExecStart=/bin/echo [Install]\n', false],
    ['lowercase', '[install]\nWantedBy=multi-user.target\n', false],
    ['indented with CRLF', '[Service]\r\nExecStart=/bin/true\r\n  [Install]  \r\nWantedBy=multi-user.target\r\n', true],
    ['empty section', '[Service]\nExecStart=/bin/true\n[Install]\n', true],
  ])('[Install] %s', (_name, contents, expected) => {
    expect(unitHasInstallSection(contents)).toBe(expected);
  });

  it('lists every install directive in order of appearance', () => {
    const unit = '[Install]\nAlias=b.service\nRequiredBy=x.target\n WantedBy = a.target b.target\nUpheldBy=y.target\nAlso=c.socket\nDefaultInstance=tty1\nWantedBy=c.target\n';
    expect(installDirectives(unit)).toEqual(['Alias', 'RequiredBy', 'WantedBy', 'UpheldBy', 'Also', 'DefaultInstance']);
  });

  it('ignores directives outside [Install], comments and unknown keys', () => {
    const unit = '[Unit]\nWantedBy=nope.target\n[Install]\n#WantedBy=multi-user.target\n;Alias=x.service\nDescription=x\nAlso\n[Service]\nAlias=late.service\n';
    expect(installDirectives(unit)).toEqual([]);
  });

  it('merges repeated [Install] sections', () => {
    expect(installDirectives('[Install]\nAlias=a.service\n[Service]\nX=1\n[Install]\nWantedBy=b.target\n')).toEqual(['Alias', 'WantedBy']);
  });

  it('treats an empty assignment as clearing the directive, as systemd does', () => {
    expect(installDirectives('[Install]\nWantedBy=multi-user.target\nWantedBy=\n')).toEqual([]);
    expect(installDirectives('[Install]\nWantedBy=\nWantedBy=multi-user.target\n')).toEqual(['WantedBy']);
  });

  it('joins continuation lines', () => {
    expect(installDirectives('[Install]\nWantedBy=\\\n  multi-user.target\n')).toEqual(['WantedBy']);
  });

  it('reports DefaultInstance alone, which the caller counts as no install target', () => {
    expect(installDirectives('[Install]\nDefaultInstance=tty1\n')).toEqual(['DefaultInstance']);
  });
});

describe('checkImageReference', () => {
  const DIGEST = 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
  it.each([
    'nginx', 'nginx:1.27', 'library/nginx', 'docker.io/library/nginx:1.27', 'quay.io/podman/stable:latest',
    'ghcr.io/owner/repo/sub/image:v1.2.3-rc_1', 'localhost/myimage', 'localhost:5000/myimage:dev', 'registry.example.com:443/a/b',
    'Registry.Example.com/a', `nginx@${DIGEST}`, `docker.io/library/nginx:1.27@${DIGEST}`,
    `nginx@sha512:${'ab'.repeat(64)}`, 'reg.io/a.b__c-d--e/f_g:TAG_9', '[::1]:5000/image', '192.168.1.10:5000/img', `x:${'a'.repeat(128)}`,
  ])('accepts %s', (s) => {
    expect(checkImageReference(s)).toBeNull();
  });

  it.each([
    ['', 'empty', undefined],
    ['docker.io/library/Nginx:1.27', 'uppercase', 'write docker.io/library/nginx:1.27'],
    ['MyOrg/App:Latest', 'uppercase', 'write myorg/app:Latest'],
    ['Nginx', 'uppercase', 'write nginx'],
    ['docker://docker.io/library/nginx', 'starts with "docker://"', 'write docker.io/library/nginx'],
    ['http://registry.example.com/app', 'starts with "http://"', 'write registry.example.com/app'],
    ['https://quay.io/podman/stable', 'starts with "https://"', 'write quay.io/podman/stable'],
    ['nginx:1.27 ', 'whitespace', 'write nginx:1.27'],
    ['docker.io/library/ nginx', 'whitespace', 'write docker.io/library/nginx'],
    ['nginx:', 'tag after ":" is empty', undefined],
    ['nginx:.hidden', 'tag ".hidden" is not valid', undefined],
    [`nginx:${'a'.repeat(129)}`, 'up to 128', undefined],
    ['nginx:1.27:2', 'not a valid image path part', undefined],
    ['docker.io//nginx', 'empty path part', undefined],
    ['nginx/', 'empty path part', undefined],
    ['/nginx', 'empty path part', undefined],
    ['my-.image', 'not a valid image path part', undefined],
    ['my..image', 'not a valid image path part', undefined],
    ['my___image', 'not a valid image path part', undefined],
    ['-image', 'not a valid image path part', undefined],
    ['my!image', 'not a valid image path part', undefined],
    ['reg-.example.com/img', 'not a valid registry host', undefined],
    ['localhost:/img', 'empty port', 'write localhost'],
    ['nginx@sha256:abc', 'exactly 64 hex digits', undefined],
    [`nginx@sha256:${'g'.repeat(64)}`, 'not all of them hex digits', undefined],
    [`nginx@md5:${'a'.repeat(32)}`, 'not of the form', undefined],
    ['nginx@', 'not of the form', undefined],
    [`nginx@${DIGEST.toUpperCase().replace('SHA256', 'sha256')}`, 'uppercase hex', `write @${DIGEST}`],
    [`${'a/'.repeat(128)}b`, 'at most 255', undefined],
  ])('refuses %j', (s, inMessage, hint) => {
    const p = checkImageReference(s);
    expect(p?.message).toContain(inMessage);
    if (hint !== undefined) expect(p?.hint).toBe(hint);
  });
});

describe('isFullyQualifiedImage', () => {
  it.each([
    ['docker.io/library/nginx', true],
    ['quay.io/podman/stable:latest', true],
    ['localhost/myimage', true],
    ['localhost:5000/myimage', true],
    ['myregistry:5000/app', true],
    ['[::1]:5000/app', true],
    ['nginx', false],
    ['nginx:1.27', false],
    ['library/nginx', false],
    ['myorg/app', false],
    [`nginx@sha256:${'a'.repeat(64)}`, false],
    ['', false],
  ])('%s -> %s', (s, expected) => {
    expect(isFullyQualifiedImage(s)).toBe(expected);
  });
});

describe('parseSize', () => {
  const KiB = 1024n;
  const MiB = 1024n * KiB;
  const GiB = 1024n * MiB;
  const TiB = 1024n * GiB;
  it.each([
    ['512MiB', 512n * MiB],
    ['40GiB', 40n * GiB],
    ['1.5TiB', (3n * TiB) / 2n],
    ['1TiB', TiB],
    ['4096', 4096n],
    ['4096B', 4096n],
    ['1KiB', KiB],
    ['1K', KiB],
    ['512M', 512n * MiB],
    ['40G', 40n * GiB],
    ['2T', 2n * TiB],
    ['0.5GiB', 512n * MiB],
    ['1.1KiB', 1126n], // 1126.4 floored
    ['1.5', 1n],
    ['0.001KiB', 1n], // 1.024 floored
    ['00010MiB', 10n * MiB],
    ['123456789012345678901234567890TiB', 123456789012345678901234567890n * TiB],
  ])('%s', (s, bytes) => {
    expect(parseSize(s)).toEqual({ bytes });
  });

  it.each([['100%', 100], ['1%', 1], ['50%', 50]])('%s', (s, percent) => {
    expect(parseSize(s)).toEqual({ percent });
  });

  it.each([
    ['40GB', 'decimal unit', 'write 40GiB'],
    ['40gb', 'decimal unit', 'write 40GiB'],
    ['40Gb', 'decimal unit', 'write 40GiB'],
    ['40 GB', 'decimal unit', 'write 40GiB'],
    ['512MB', 'decimal unit', 'write 512MiB'],
    ['1.5TB', 'decimal unit', 'write 1.5TiB'],
    ['100kB', 'decimal unit', 'write 100KiB'],
    ['40gib', 'wrong case', 'write 40GiB'],
    ['40GIB', 'wrong case', 'write 40GiB'],
    ['40g', 'wrong case', 'write 40GiB'],
    ['40Gi', 'wrong case', 'write 40GiB'],
    ['40 GiB', 'no space', 'write 40GiB'],
    ['+40GiB', 'no "+"', 'write 40GiB'],
  ])('refuses %j with a hint', (s, inMessage, hint) => {
    const r = parseSize(s);
    expect(isProblem(r) && r.message).toContain(inMessage);
    expect(isProblem(r) && r.hint).toBe(hint);
  });

  it('explains that flint uses binary units', () => {
    const r = parseSize('40GB');
    expect(isProblem(r) && r.message).toContain('binary units');
  });

  it.each([
    ['', 'empty'],
    ['0', 'zero'],
    ['0GiB', 'zero'],
    ['0.0001B', 'zero'],
    ['-5GiB', 'negative'],
    ['0%', 'zero'],
    ['101%', 'more than the whole disk'],
    ['12.5%', 'not a whole percentage'],
    ['-5%', 'not a percentage'],
    ['%', 'not a percentage'],
    ['5PiB', 'unknown unit "PiB"'],
    ['5 bytes', 'unknown unit'],
    ['GiB', 'not a size'],
    ['1,5GiB', 'not a size'],
    ['.5GiB', 'not a size'],
    ['5.GiB', 'not a size'],
    ['1e3', 'not a size'],
    ['40GiB ', 'not a size'],
  ])('refuses %j', (s, inMessage) => {
    const r = parseSize(s);
    expect(isProblem(r)).toBe(true);
    expect(isProblem(r) && r.message).toContain(inMessage);
  });

  it('rounds a fractional percentage in its hint', () => {
    const r = parseSize('12.5%');
    expect(isProblem(r) && r.hint).toBe('write 13%');
  });
});

describe('normalisePath', () => {
  it.each([
    ['/etc/motd', '/etc/motd'],
    ['/', '/'],
    ['//', '/'],
    ['/etc//motd', '/etc/motd'],
    ['/etc/motd/', '/etc/motd'],
    ['/etc/./motd', '/etc/motd'],
    ['/etc/../etc/motd', '/etc/motd'],
    ['/../etc', '/etc'],
    ['/a/b/../../..', '/'],
    ['etc/motd', '/etc/motd'],
    ['', '/'],
  ])('%j -> %j', (p, expected) => {
    expect(normalisePath(p)).toBe(expected);
  });
});

describe('checkSafePath', () => {
  it.each(['/etc/motd', '/srv/web', '/usr/local/bin/vi', '/a', '/etc/systemd/system/x.service.d/10-a.conf', '/.hidden', '/a..b/...'])('accepts %s', (p) => {
    expect(checkSafePath(p)).toBeNull();
  });

  it.each([
    ['', 'empty', undefined],
    ['etc/motd', 'relative', 'write /etc/motd'],
    ['./etc/motd', 'relative', 'write /etc/motd'],
    ['~/notes', 'not expanded', undefined],
    ['/', 'root folder itself', undefined],
    ['//', 'root folder itself', undefined],
    ['/.', 'root folder itself', undefined],
    ['/etc//motd', 'a doubled "/"', 'write /etc/motd'],
    ['/etc/motd/', 'a trailing "/"', 'write /etc/motd'],
    ['/etc/./motd', 'a "." part', 'write /etc/motd'],
    ['/etc/../shadow', 'may not leave their folder', 'write the path without "..", e.g. /shadow'],
    ['/srv/web/../../etc/passwd', 'may not leave their folder', undefined],
    ['/..', 'may not leave their folder', undefined],
    ['/etc/mo\0td', 'NUL', undefined],
  ])('refuses %j', (p, inMessage, hint) => {
    const problem = checkSafePath(p);
    expect(problem?.message).toContain(inMessage);
    if (hint !== undefined) expect(problem?.hint).toBe(hint);
  });

  it('does not print a NUL character in its message', () => {
    expect(checkSafePath('/a\0b')?.message).not.toContain('\0');
  });
});

describe('checkCountryCode', () => {
  it.each(['DE', 'US', 'GB', 'FR', 'JP', 'AQ', 'BV', 'SS', 'ZW', 'AD', '00'])('accepts %s', (s) => {
    expect(checkCountryCode(s)).toBeNull();
  });

  it.each([
    ['de', 'uppercase', 'write DE'],
    ['De', 'uppercase', 'write DE'],
    ['UK', 'not an ISO 3166-1', 'write GB'],
    ['uk', 'not an ISO 3166-1', 'write GB'],
    ['EL', 'not an ISO 3166-1', 'write GR'],
    ['Germany', 'not a two-letter', 'write DE'],
    ['united states', 'not a two-letter', 'write US'],
  ])('refuses %j with a hint', (s, inMessage, hint) => {
    const p = checkCountryCode(s);
    expect(p?.message).toContain(inMessage);
    expect(p?.hint).toBe(hint);
  });

  it.each(['XK', 'EU', 'AA', 'ZZ', 'QZ', 'xx', '', 'D', 'DEU', '0', '01', 'D1'])('refuses %j', (s) => {
    expect(checkCountryCode(s)).not.toBeNull();
  });

  it('knows all 249 assigned codes', () => {
    let count = 0;
    for (let a = 65; a <= 90; a++) {
      for (let b = 65; b <= 90; b++) if (checkCountryCode(String.fromCharCode(a, b)) === null) count++;
    }
    expect(count).toBe(249);
  });
});
