/**
 * The CA certificates step: each `ca_certificates` entry is installed where the
 * target's own trust tool takes local authorities from, and that tool is run at the
 * first boot of the configured system, so every derived store it keeps (OpenSSL's
 * hashed folder, Java's keystore, p11-kit's extracts) comes out exactly as the
 * distribution makes it:
 * - Debian family (update-ca-certificates): /usr/local/share/ca-certificates/NAME.crt
 *   (the tool reads only *.crt there);
 * - openSUSE (update-ca-certificates of p11-kit): /etc/pki/trust/anchors/NAME.pem;
 * - Fedora and RHEL (update-ca-trust): /etc/pki/ca-trust/source/anchors/NAME.pem.
 * The PEM is also appended to the system bundle the target has (a no-op when it is in it
 * already), so what reads the bundle before that boot, a post script in the initramfs,
 * trusts it at once. flint-ca-certificates.service runs the tool once, early in the
 * first boot (before the network and everything that needs TLS).
 */
import { verifyMismatch } from '../files/verify.js';
import { listSources } from '../../engine/step.js';
import type { Action } from '../../engine/actions.js';
import type { PathSeg } from '../../config/diagnostics.js';
import type { Problem, Step, StepContext, StepOutput } from '../../engine/step.js';
import type { TargetRoot } from '../../target/root.js';
import { parseCaPem } from '../../config/checks/pem.js';
import { editedFile } from '../files/conffile.js';
import { decodeDataUrl } from '../../system/fetch.js';
import { enabledUnit } from '../systemd/unit-file.js';

const STEP = 'ca-certificates';
export const CA_SERVICE = 'flint-ca-certificates.service';
const CA_DONE = '/var/lib/flint/ca-certificates-done';

interface Layout {
  family: string;
  dir: string;
  ext: string;
  tool: string;
  bundles: string[];
}

const LAYOUTS: readonly Layout[] = [
  { family: 'Debian', dir: '/usr/local/share/ca-certificates', ext: '.crt', tool: 'update-ca-certificates', bundles: ['/etc/ssl/certs/ca-certificates.crt'] },
  { family: 'Fedora', dir: '/etc/pki/ca-trust/source/anchors', ext: '.pem', tool: 'update-ca-trust', bundles: ['/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem'] },
  { family: 'openSUSE', dir: '/etc/pki/trust/anchors', ext: '.pem', tool: 'update-ca-certificates', bundles: ['/var/lib/ca-certificates/ca-bundle.pem'] },
];

/** Which layout the target has: the one whose tool is installed (Debian's and openSUSE's share a name; their folders tell them apart). */
export function caLayout(root: TargetRoot): Layout | undefined {
  const has = (p: string) => root.entry(p).type !== 'missing';
  const tool = (name: string) => ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => root.entry(`${d}/${name}`).type === 'file');
  if (tool('update-ca-trust')) return LAYOUTS[1];
  if (!tool('update-ca-certificates')) return undefined;
  return has('/etc/pki/trust') && !has('/usr/share/ca-certificates') ? LAYOUTS[2] : LAYOUTS[0];
}

export function caUnit(tool: string): string {
  return [
    '# Written by flint (ca_certificates: in the config): the target\'s own tool rebuilds its trust stores once.',
    '[Unit]',
    'Description=flint: add the config\'s certificate authorities to the trust stores',
    'DefaultDependencies=no',
    'After=local-fs.target',
    'Before=sysinit.target network-pre.target shutdown.target',
    'Wants=network-pre.target',
    'Conflicts=shutdown.target',
    `ConditionPathExists=!${CA_DONE}`,
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=${tool}`,
    'ExecStart=mkdir -p /var/lib/flint',
    `ExecStart=touch ${CA_DONE}`,
    '',
    '[Install]',
    'WantedBy=sysinit.target',
    '',
  ].join('\n');
}

function entryData(ctx: StepContext, e: { contents?: string; source?: string; verify?: string }, at: PathSeg[], problems: Problem[]): string | undefined {
  let data: Buffer | undefined;
  if (e.contents !== undefined) data = Buffer.from(e.contents);
  else if (e.source !== undefined) data = e.source.startsWith('data:') ? decodeDataUrl(e.source) : ctx.payloads.get(e.source);
  if (data === undefined) {
    problems.push({ path: at, message: e.source === undefined ? 'a certificate needs contents or source' : `${e.source}: no data` });
    return undefined;
  }
  const wrong = e.verify !== undefined ? verifyMismatch(data, e.verify, 'the certificate') : undefined;
  if (wrong !== undefined) {
    problems.push({ path: [...at, 'verify'], ...wrong });
    return undefined;
  }
  return data.toString('utf8');
}

export const caCertificatesStep: Step = {
  name: STEP,
  sections: ['ca_certificates'],
  sources: (c) => listSources(c, ['ca_certificates'], 'source'),
  bootUnits: (c) => ((c.ca_certificates ?? []).length > 0 ? [[CA_SERVICE]] : []),
  plan(ctx: StepContext): StepOutput {
    const list = ctx.config.ca_certificates ?? [];
    if (list.length === 0) return { actions: [], problems: [], warnings: [] };
    const { root } = ctx;
    const layout = caLayout(root);
    if (layout === undefined) {
      return { actions: [], problems: [{ path: ['ca_certificates'], message: 'the target has no trust store tool (update-ca-certificates or update-ca-trust)', hint: 'install the ca-certificates package in the image, or drop ca_certificates:' }], warnings: [] };
    }
    const actions: Action[] = [];
    const problems: Problem[] = [];
    const pems: string[] = [];
    const installed: Array<{ name: string; path: string; subject: string }> = [];
    list.forEach((e, i) => {
      const text = entryData(ctx, e, ['ca_certificates', i], problems);
      if (text === undefined) return;
      const parsed = parseCaPem(text);
      if ('problem' in parsed) {
        problems.push({ path: ['ca_certificates', i], message: `ca_certificates[${i}] (${e.name}): ${parsed.problem}` });
        return;
      }
      const path = `${layout.dir}/${e.name}${layout.ext}`;
      actions.push({ kind: 'file', path, data: Buffer.from(parsed.pem), mode: 0o644, uid: 0, gid: 0, step: STEP, why: `trusted CA ${parsed.subject}` });
      pems.push(parsed.pem);
      installed.push({ name: e.name, path, subject: parsed.subject });
    });
    for (const bundle of layout.bundles) {
      const before = root.readText(bundle);
      if (before === undefined) continue;
      const missing = pems.filter((p) => !before.includes(p.trim()));
      if (missing.length > 0) actions.push(editedFile(root, bundle, `${before}${before === '' || before.endsWith('\n') ? '' : '\n'}${missing.join('')}`, STEP, 'the system CA bundle, until the first boot rebuilds it'));
    }
    actions.push(...enabledUnit(CA_SERVICE, caUnit(layout.tool), 'sysinit.target', STEP, `${layout.tool} at the first boot`));
    return { actions, problems, warnings: [], report: { ca_certificates: { family: layout.family, installed } } };
  },
};
