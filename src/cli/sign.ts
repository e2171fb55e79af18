/** `flint sign` and `flint verify`: signed manifests over a config and its payloads (src/trust/). */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { KeyObject, X509Certificate } from 'node:crypto';
import { parseCertificates, TrustError } from '../trust/chain.js';
import { isEncryptedKey, loadSigningKey } from '../trust/key.js';
import { readPayloads, sigPath, signManifest, UnsignedError, verifyConfig } from '../trust/manifest.js';
import { loadAnchorFile, loadAnchors, TRUST_DIR } from '../trust/policy.js';
import { Prompter, canAsk } from '../media/prompt.js';
import { expandShortFlags, parseArgs, UsageError } from './args.js';
import type { ParsedArgs } from './args.js';
import { signHelp, verifyHelp } from './trust-help.js';
import type { Output } from './output.js';

export interface SignIo {
  /** Standard input, for --passphrase-stdin. */
  readStdin(): string;
  /** The passphrase from the terminal, without echo; undefined when there is none. */
  askPassphrase(question: string): Promise<string | undefined>;
}

export const processSignIo: SignIo = {
  readStdin: () => readFileSync(0, 'utf8'),
  askPassphrase: async (q) => {
    if (!canAsk()) return undefined;
    const p = new Prompter();
    try {
      return await p.secret(q);
    } finally {
      p.close();
    }
  },
};

function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${what} ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** The key and certificates --key, --cert and --chain name; the passphrase by terminal or stdin only. */
export async function signingMaterial(args: ParsedArgs, sio: SignIo): Promise<{ key: KeyObject; certificates: X509Certificate[] }> {
  const keyFile = str(args, 'key');
  const certFile = str(args, 'cert');
  if (keyFile === undefined || certFile === undefined) throw new UsageError('signing needs --key KEY.pem and --cert CERT.pem');
  const pem = readText(keyFile, '--key');
  let passphrase: string | undefined;
  if (isEncryptedKey(pem)) {
    if (args.flags.has('passphrase-stdin')) passphrase = sio.readStdin().split(/\r?\n/)[0] ?? '';
    else {
      passphrase = await sio.askPassphrase(`Passphrase for ${basename(keyFile)}:`);
      if (passphrase === undefined) throw new UsageError(`${keyFile} is encrypted and there is no terminal to ask for its passphrase: give it on standard input with --passphrase-stdin`);
    }
  }
  const key = loadSigningKey(pem, keyFile, passphrase);
  const chainFile = str(args, 'chain');
  const certificates = [...parseCertificates(readText(certFile, '--cert'), certFile).slice(0, 1), ...(chainFile !== undefined ? parseCertificates(readText(chainFile, '--chain'), chainFile) : [])];
  return { key, certificates };
}

export async function runSign(argv: readonly string[], io: Output, sio: SignIo = processSignIo): Promise<number> {
  const args = parseArgs(expandShortFlags(argv, { '-o': '--output' }), { booleans: ['passphrase-stdin'], values: ['key', 'cert', 'chain', 'output'] });
  if (args.flags.has('help')) {
    io.out(signHelp);
    return 0;
  }
  if (args.positionals.length !== 1) throw new UsageError('flint sign needs exactly one CONFIG');
  const configFile = args.positionals[0]!;
  if (!existsSync(configFile)) throw new UsageError(`${configFile}: no such file`);
  try {
    const { key, certificates } = await signingMaterial(args, sio);
    const config = readFileSync(configFile);
    const payloads = await readPayloads(configFile, config.toString('utf8'));
    const out = str(args, 'output') ?? sigPath(configFile);
    writeFileSync(out, signManifest({ name: basename(configFile), config, payloads, key, certificates }));
    io.out(`${out}: signed ${basename(configFile)} and ${payloads.length} payload${payloads.length === 1 ? '' : 's'} as "${certificates[0]!.subject.replace(/\n/g, ', ')}"`);
    return 0;
  } catch (e) {
    if (!(e instanceof TrustError)) throw e;
    io.err(`flint: ${e.message}`);
    return 1;
  }
}

/** Trust anchors from --trust (comma-separated files), else the first-boot trust folder. */
function anchorsOf(args: ParsedArgs): X509Certificate[] {
  const files = str(args, 'trust');
  if (files === undefined) return loadAnchors(TRUST_DIR);
  return files.split(',').filter((f) => f !== '').flatMap((f) => loadAnchorFile(f));
}

export async function runVerify(argv: readonly string[], io: Output): Promise<number> {
  const args = parseArgs(argv, { booleans: ['json'], values: ['trust'] });
  if (args.flags.has('help')) {
    io.out(verifyHelp);
    return 0;
  }
  if (args.positionals.length !== 1) throw new UsageError('flint verify needs exactly one CONFIG');
  const configFile = args.positionals[0]!;
  if (!existsSync(configFile)) throw new UsageError(`${configFile}: no such file`);
  const json = args.flags.has('json');
  try {
    const anchors = anchorsOf(args);
    if (anchors.length === 0) throw new UsageError(`no trusted certificate: give --trust CA.pem (none in ${TRUST_DIR})`);
    const v = await verifyConfig(configFile, { anchors });
    if (json) io.out(JSON.stringify({ ok: true, signer: v.signer, signed_at: v.signedAt, payloads: v.payloads }, null, 2));
    else {
      io.out(`${configFile}: good signature by "${v.signer.name}" (SHA256 ${v.signer.fingerprint})`);
      io.out(`  signed at ${v.signedAt}; ${v.payloads.length} payload${v.payloads.length === 1 ? '' : 's'} checked`);
      io.out(`  chain reaches the trusted certificate ${v.signer.anchor}`);
    }
    return 0;
  } catch (e) {
    if (!(e instanceof TrustError)) throw e;
    if (json) io.out(JSON.stringify({ ok: false, signed: !(e instanceof UnsignedError), reason: e.message }, null, 2));
    else io.err(`flint: ${configFile}: ${e instanceof UnsignedError ? '' : 'signature refused: '}${e.message}`);
    return e instanceof UnsignedError ? 4 : 1;
  }
}
