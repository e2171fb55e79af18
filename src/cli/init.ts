/** `flint init`: write a new, valid, commented config from answers or options. */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatDiagnostic } from '../config/diagnostics.js';
import { validateText } from '../config/validate.js';
import { hashPassword } from '../crypt/sha-crypt.js';
import { renderInitConfig } from '../media/init-config.js';
import type { InitAnswers } from '../media/init-config.js';
import { canAsk, Prompter } from '../media/prompt.js';
import { expandShortFlags, parseArgs, UsageError } from './args.js';
import type { ParsedArgs } from './args.js';
import { initHelp } from './media-help.js';
import type { Output } from './output.js';

const VALUES = ['output', 'user', 'ssh-key', 'hostname', 'timezone', 'keymap', 'wifi-ssid', 'wifi-country', 'interface', 'address', 'gateway', 'dns'] as const;

export async function runInit(argv: readonly string[], io: Output, readStdin: () => string = () => readFileSync(0, 'utf8')): Promise<number> {
  const args = parseArgs(expandShortFlags(argv, { '-o': '--output', '-y': '--yes' }), { booleans: ['yes', 'force', 'password-stdin', 'password-hash-stdin', 'wifi-password-stdin'], values: VALUES });
  if (args.flags.has('help')) {
    io.out(initHelp);
    return 0;
  }
  if (args.positionals.length > 0) throw new UsageError(`flint init takes only options (got "${args.positionals[0]}")`);
  const out = str(args, 'output') ?? 'flint.yaml';
  if (out !== '-' && existsSync(out) && !args.flags.has('force')) throw new UsageError(`${out} exists; give --force to overwrite it, or -o another file`);
  const secrets = readSecrets(args, readStdin);
  const interactive = !args.flags.has('yes');
  if (interactive && !canAsk()) throw new UsageError('no terminal to ask on: give --yes and the answers as options (flint init --help)');
  const answers = interactive ? await ask(args, secrets) : fromFlags(args, secrets);
  const text = renderInitConfig(answers);
  const checked = validateText(out === '-' ? 'flint.yaml' : out, text);
  for (const d of checked.diagnostics) io.err(formatDiagnostic(d, { color: io.color }) + '\n');
  if (checked.config === undefined) {
    io.err('flint: the answers do not make a valid config (see above); nothing was written');
    return 1;
  }
  if (out === '-') io.out(text.replace(/\n$/, ''));
  else {
    // It may hold a password hash or a Wi-Fi passphrase.
    writeFileSync(out, text, { mode: 0o600 });
    io.err(`flint: wrote ${out}; make a stick with: flint drive create ${out} -o stick.img`);
  }
  return 0;
}

function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === 'string' && v !== '' ? v : undefined;
}

interface Secrets {
  password?: string;
  passwordHash?: string;
  wifiPassword?: string;
}

/**
 * Secrets (a password, a ready hash, a Wi-Fi passphrase) come on stdin, never in argv,
 * where every user of the machine could read them: one line each, in that order.
 */
function readSecrets(args: ParsedArgs, readStdin: () => string): Secrets {
  const wantPw = args.flags.has('password-stdin');
  const wantHash = args.flags.has('password-hash-stdin');
  const wantWifi = args.flags.has('wifi-password-stdin');
  if (!wantPw && !wantHash && !wantWifi) return {};
  if (wantPw && wantHash) throw new UsageError('give --password-stdin or --password-hash-stdin, not both');
  const lines = readStdin().split(/\r?\n/);
  const take = (what: string): string => {
    const l = lines.shift();
    if (l === undefined || l === '') throw new UsageError(`standard input has no line for the ${what}`);
    return l;
  };
  return {
    ...(wantPw ? { password: take('password') } : {}),
    ...(wantHash ? { passwordHash: take('password hash') } : {}),
    ...(wantWifi ? { wifiPassword: take('Wi-Fi passphrase') } : {}),
  };
}

function keyFromFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`--ssh-key ${file}: cannot read it`);
  }
  const line = text.split('\n').map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('#'));
  if (line === undefined) throw new UsageError(`--ssh-key ${file}: no key in it`);
  if (/PRIVATE KEY/.test(text)) throw new UsageError(`--ssh-key ${file} is a private key; give the .pub file`);
  return line;
}

function fromFlags(args: ParsedArgs, secrets: Secrets): InitAnswers {
  const sshKey = str(args, 'ssh-key');
  const hash = secrets.passwordHash ?? (secrets.password !== undefined ? hashPassword(secrets.password) : undefined);
  const ssid = str(args, 'wifi-ssid');
  const address = str(args, 'address');
  if (address === undefined && (str(args, 'gateway') !== undefined || str(args, 'dns') !== undefined)) throw new UsageError('--gateway and --dns go with --address (a static address)');
  if (ssid === undefined && (secrets.wifiPassword !== undefined || str(args, 'wifi-country') !== undefined)) throw new UsageError('--wifi-password-stdin and --wifi-country go with --wifi-ssid');
  return compact({
    schema: schemaLocation(),
    user: str(args, 'user') ?? 'admin',
    sshKeys: sshKey !== undefined ? [keyFromFile(sshKey)] : [],
    passwordHash: hash,
    hostname: str(args, 'hostname'),
    timezone: str(args, 'timezone'),
    keymap: str(args, 'keymap'),
    wifi: ssid !== undefined ? compact({ ssid, password: secrets.wifiPassword, country: str(args, 'wifi-country')?.toUpperCase() }) : undefined,
    staticIp: address !== undefined ? compact({ address, gateway: str(args, 'gateway'), dns: (str(args, 'dns') ?? '').split(',').filter((d) => d !== '') }) : undefined,
    interface: str(args, 'interface'),
  });
}

/** The object without its undefined fields (exactOptionalPropertyTypes). */
function compact<T extends object>(o: { [K in keyof T]: T[K] | undefined }): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

async function ask(args: ParsedArgs, secrets: Secrets): Promise<InitAnswers> {
  const base = fromFlags(args, secrets);
  const p = new Prompter();
  try {
    const user = await p.ask('User name:', base.user);
    const sshKeys = base.sshKeys.length > 0 ? base.sshKeys : await askKey(p);
    let passwordHash = base.passwordHash;
    if (passwordHash === undefined) {
      const pw = await p.secret('Password (empty: none, log in with the key only):');
      if (pw !== '') {
        const again = await p.secret('The same password again:');
        if (again !== pw) throw new UsageError('the two passwords differ; nothing was written');
        passwordHash = hashPassword(pw);
      }
    }
    const opt = async (q: string, d?: string) => {
      const a = (await p.ask(q, d ?? '')).trim();
      return a === '' ? undefined : a;
    };
    const hostname = await opt('Host name (empty: keep the image\'s):', base.hostname);
    const timezone = await opt('Time zone, e.g. Europe/Berlin (empty: keep):', base.timezone ?? hostTimezone());
    const keymap = await opt('Console keymap, e.g. de-nodeadkeys (empty: keep):', base.keymap);
    let wifi = base.wifi;
    const ssid = await opt('Wi-Fi network name (empty: no Wi-Fi):', wifi?.ssid);
    if (ssid !== undefined) {
      const pw = wifi?.password ?? (await p.secret('Wi-Fi passphrase (empty: an open network):'));
      const country = await opt('Wi-Fi country code, e.g. DE:', wifi?.country);
      wifi = compact({ ssid, password: pw === '' ? undefined : pw, country: country?.toUpperCase() });
    }
    let staticIp = base.staticIp;
    const method = (await p.ask('Wired network: dhcp or static?', staticIp !== undefined ? 'static' : 'dhcp')).trim().toLowerCase();
    if (method === 'static') {
      const address = await opt('Address with prefix, e.g. 192.168.1.20/24:', staticIp?.address);
      if (address === undefined) throw new UsageError('a static address is needed for static; nothing was written');
      const gateway = await opt('Gateway, e.g. 192.168.1.1:', staticIp?.gateway);
      const dns = ((await opt('DNS servers, comma-separated:', staticIp?.dns.join(','))) ?? '').split(',').map((d) => d.trim()).filter((d) => d !== '');
      staticIp = compact({ address, gateway, dns });
    } else staticIp = undefined;
    return compact({ schema: base.schema, user, sshKeys, passwordHash, hostname, timezone, keymap, wifi, staticIp, interface: base.interface });
  } finally {
    p.close();
  }
}

async function askKey(p: Prompter): Promise<string[]> {
  const dir = join(homedir(), '.ssh');
  let pubs: string[] = [];
  try {
    pubs = readdirSync(dir).filter((f) => f.endsWith('.pub')).sort();
  } catch {
    // no ~/.ssh
  }
  if (pubs.length === 0) {
    const file = (await p.ask('Public key file (empty: none; make one with ssh-keygen -t ed25519):', '')).trim();
    return file === '' ? [] : [keyFromFile(file)];
  }
  process.stderr.write(pubs.map((f, i) => `  ${i + 1}) ${join(dir, f)}\n`).join(''));
  const pick = (await p.ask(`SSH key for logging in (1-${pubs.length}, or none):`, '1')).trim();
  if (/^none$|^n$/i.test(pick)) return [];
  const n = Number(pick);
  if (!Number.isInteger(n) || n < 1 || n > pubs.length) throw new UsageError(`"${pick}" is not one of 1 to ${pubs.length}`);
  return [keyFromFile(join(dir, pubs[n - 1]!))];
}

function hostTimezone(): string | undefined {
  try {
    return readFileSync('/etc/timezone', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The schema shipped beside flint (an absolute path), for editors; the $id otherwise. */
export function schemaLocation(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'schemas/flint-v1.schema.json');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return 'urn:flint:config:v1';
}
