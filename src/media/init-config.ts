/**
 * The config `flint init` writes: plain data in, commented YAML out. Every value a
 * person typed is written double-quoted (JSON string syntax is valid YAML), so no
 * answer can change the document's structure.
 */

export interface InitAnswers {
  /** Where the editor finds the schema: an absolute path or URL. */
  schema: string;
  user: string;
  sshKeys: string[];
  passwordHash?: string;
  hostname?: string;
  timezone?: string;
  keymap?: string;
  wifi?: { ssid: string; password?: string; country?: string };
  /** A static IPv4 address; none means DHCP. */
  staticIp?: { address: string; gateway?: string; dns: string[] };
  /** The wired interface (default: any ethernet interface). */
  interface?: string;
}

const q = (s: string): string => JSON.stringify(s);

export function renderInitConfig(a: InitAnswers): string {
  const lines: string[] = [
    `# yaml-language-server: $schema=${a.schema}`,
    '#',
    '# Written by "flint init". Check it with: flint validate THIS-FILE',
    '# Make a stick with: flint drive create THIS-FILE -o stick.img',
    'version: 1',
    '',
  ];
  if (a.hostname !== undefined) lines.push(`hostname: ${q(a.hostname)}`);
  if (a.timezone !== undefined) lines.push(`timezone: ${q(a.timezone)}          # an IANA name, checked against the target's zoneinfo`);
  if (a.keymap !== undefined) lines.push(`keymap: ${q(a.keymap)}`);
  if (a.hostname !== undefined || a.timezone !== undefined || a.keymap !== undefined) lines.push('');
  lines.push('users:', `  - name: ${q(a.user)}`);
  lines.push(a.passwordHash !== undefined ? '    sudo: password               # sudo asks for the password below' : '    sudo: nopasswd               # no password is set: sudo without one');
  if (a.passwordHash !== undefined) lines.push(`    password_hash: ${q(a.passwordHash)}   # SHA-512 crypt; the password itself is stored nowhere`);
  if (a.sshKeys.length > 0) {
    lines.push('    ssh_authorized_keys:');
    for (const k of a.sshKeys) lines.push(`      - ${q(k)}`);
  }
  lines.push('');
  lines.push('ssh:');
  lines.push(`  password_authentication: ${a.passwordHash === undefined || a.sshKeys.length > 0 ? 'false' : 'true'}   # ${a.sshKeys.length > 0 ? 'keys only' : 'no key given: log in with the password'}`);
  lines.push('  host_keys: generate           # host key fingerprints are in the report before first boot');
  const net = networkLines(a);
  if (net.length > 0) lines.push('', ...net);
  return lines.join('\n') + '\n';
}

function networkLines(a: InitAnswers): string[] {
  const conns: string[] = [];
  if (a.staticIp !== undefined || a.interface !== undefined) {
    conns.push('    - name: lan', '      type: ethernet');
    if (a.interface !== undefined) conns.push(`      interface: ${q(a.interface)}`);
    if (a.staticIp === undefined) conns.push('      ipv4: {method: dhcp}');
    else {
      conns.push('      ipv4:', '        method: static', `        addresses: [${q(a.staticIp.address)}]`);
      if (a.staticIp.gateway !== undefined) conns.push(`        gateway: ${q(a.staticIp.gateway)}`);
      if (a.staticIp.dns.length > 0) conns.push(`        dns: [${a.staticIp.dns.map(q).join(', ')}]`);
    }
  }
  if (a.wifi !== undefined) {
    conns.push('    - name: wifi', '      type: wifi', '      wifi:', `        ssid: ${q(a.wifi.ssid)}`);
    if (a.wifi.password !== undefined) conns.push(`        password: ${q(a.wifi.password)}   # with wpa-psk only the derived key reaches the target`);
    else conns.push('        security: open');
  }
  if (conns.length === 0) return ['# network: not set, so the target keeps its own (usually DHCP on every wired interface)'];
  const out = ['network:'];
  if (a.wifi?.country !== undefined) out.push(`  wifi_country: ${q(a.wifi.country)}            # many boards keep Wi-Fi off until this is set`);
  out.push('  connections:', ...conns);
  return out;
}
