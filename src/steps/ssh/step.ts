/**
 * The SSH step: each user's authorized keys (keys already there are kept, none is
 * added twice), the sshd drop-in for the ssh: options, and host keys made now when
 * `host_keys: generate`, so their fingerprints are in the report before first boot.
 */
import type { Action } from '../../engine/actions.js';
import type { Problem, Step, StepContext, StepOutput } from '../../engine/step.js';
import { ACCOUNTS } from '../users/step.js';
import { generateHostKeysAsync, mergeAuthorizedKeys, sshdDropin, SSHD_DROPIN_PATH } from './sshd.js';

/** The comment flint puts on host keys it made: a later run recognises them and keeps them. */
const HOST_KEY_COMMENT = 'root@flint-generated';

export const sshStep: Step = {
  name: 'ssh',
  sections: ['ssh'],
  needs: [ACCOUNTS],
  plan(ctx: StepContext): StepOutput {
    const { root, config } = ctx;
    const actions: Action[] = [];
    const problems: Problem[] = [];
    const report: Record<string, unknown> = {};
    const { homes } = ctx.facts.get(ACCOUNTS);
    let pending: Promise<void> | undefined;
    let skelSsh: boolean | undefined;
    (config.users ?? []).forEach((u, i) => {
      const keys = u.ssh_authorized_keys ?? [];
      const h = homes.get(u.name);
      if (keys.length === 0 || h === undefined) return;
      const sshDir = `${h.home}/.ssh`;
      const file = `${sshDir}/authorized_keys`;
      // A symlink here could make flint write another user's keys (or root's): refuse.
      // (A home this plan makes has nothing in it yet, unless /etc/skel has an .ssh.)
      const fresh = h.made === true && !(skelSsh ??= root.exists('/etc/skel/.ssh'));
      for (const p of fresh ? [] : [sshDir, file]) {
        if (root.entry(p).type === 'symlink') {
          problems.push({ path: ['users', i, 'ssh_authorized_keys'], message: `${p} is a symbolic link in the target; flint does not write keys through it`, hint: 'remove the link from the image' });
          return;
        }
      }
      const merged = mergeAuthorizedKeys(fresh ? undefined : root.readText(file), keys);
      actions.push({ kind: 'dir', path: sshDir, mode: 0o700, uid: h.uid, gid: h.gid, step: 'ssh', why: `SSH folder of ${u.name}` });
      actions.push({ kind: 'file', path: file, data: Buffer.from(merged.text), mode: 0o600, uid: h.uid, gid: h.gid, step: 'ssh', why: `authorized keys of ${u.name}` });
    });
    const ssh = config.ssh;
    if (ssh !== undefined) {
      const dropin = sshdDropin(ssh);
      if (dropin !== undefined) actions.push({ kind: 'file', path: SSHD_DROPIN_PATH, data: Buffer.from(dropin), mode: 0o644, uid: 0, gid: 0, step: 'ssh', why: 'sshd options' });
      if (ssh.host_keys === 'generate') {
        const mine = ['ed25519', 'rsa'].every((t) => (root.readText(`/etc/ssh/ssh_host_${t}_key.pub`) ?? '').trimEnd().endsWith(HOST_KEY_COMMENT));
        if (!mine) {
          // Made in the thread pool while the rest is planned and applied (the storage
          // step's disks, the other files); the apply waits for them before it writes
          // any file (settlePlan), so they are journaled and committed with the rest.
          const keyActions = new Map<string, Extract<Action, { kind: 'file' }>>();
          for (const type of ['ed25519', 'rsa'] as const) {
            const privatePath = `/etc/ssh/ssh_host_${type}_key`;
            const priv: Extract<Action, { kind: 'file' }> = { kind: 'file', path: privatePath, data: Buffer.alloc(0), later: true, mode: 0o600, uid: 0, gid: 0, secret: true, step: 'ssh', why: `${type} host key` };
            const pub: Extract<Action, { kind: 'file' }> = { kind: 'file', path: `${privatePath}.pub`, data: Buffer.alloc(0), later: true, mode: 0o644, uid: 0, gid: 0, step: 'ssh', why: `${type} host key (public)` };
            keyActions.set(priv.path, priv).set(pub.path, pub);
            actions.push(priv, pub);
          }
          pending = generateHostKeysAsync(HOST_KEY_COMMENT).then((keys) => {
            for (const k of keys) {
              keyActions.get(k.privatePath)!.data = Buffer.from(k.privateKey);
              keyActions.get(k.publicPath)!.data = Buffer.from(k.publicKey);
            }
            report.host_keys = keys.map((k) => ({ type: k.type, bits: k.bits, fingerprint: k.fingerprint }));
          });
          // Any other host key the image shipped (ECDSA, DSA) would be shared by every
          // machine made from it: remove it; sshd then offers the new keys only.
          for (const name of root.list('/etc/ssh')) {
            if (/^ssh_host_(?!ed25519_key|rsa_key)\w+_key(\.pub)?$/.test(name)) {
              actions.push({ kind: 'absent', path: `/etc/ssh/${name}`, step: 'ssh', why: 'host key shared by every copy of the image' });
            }
          }
        }
      }
    }
    return { actions, problems, warnings: [], report, ...(pending !== undefined ? { pending } : {}) };
  },
};
