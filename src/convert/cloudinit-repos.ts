/**
 * cloud-init's package sources as the files their modules write, so a seed's
 * repositories reach the image before flint's packages unit installs from them:
 * - yum_add_repo: `yum_repos.ID` -> /etc/yum.repos.d/ID.repo (spaces in the id become
 *   "-", keys lower-cased with "-" as "_", booleans as 1/0, lists one per line), written
 *   only where no such file is (overwrite: false; cloud-init skips an existing one);
 *   `yum_repo_dir` moves the folder;
 * - zypper_add_repo: `zypper.repos[]` -> /etc/zypp/repos.d/ID.repo, the same way;
 * - apt_configure: `apt.sources.NAME.source` -> /etc/apt/sources.list.d/NAME.list
 *   (".list" added unless given), and its armored `key` -> /etc/apt/trusted.gpg.d/NAME.asc.
 *   A source with $RELEASE, $MIRROR or $PRIMARY (cloud-init fills them from the running
 *   distribution), a `keyid` or `keyserver` (a download), and the rest of `apt:` are
 *   named as not applied.
 */
import type { PathSeg } from '../config/diagnostics.js';
import type { File } from '../config/generated/model.js';
import type { SeedFile } from './cloudinit-source.js';

export interface RepoFile {
  file: File;
  from: PathSeg[];
}

function iniValue(v: unknown): string {
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (Array.isArray(v)) return v.map(iniValue).join('\n\t');
  return String(v);
}

/** A .repo file as Python's ConfigParser writes one section. */
export function repoFile(id: string, settings: Record<string, unknown>): string {
  const lines = [`# Created by flint from the cloud-init seed`, `[${id}]`];
  for (const [k, v] of Object.entries(settings)) {
    if (v === null || v === undefined) continue;
    lines.push(`${k.toLowerCase().trim().replace(/-/g, '_')} = ${iniValue(v)}`);
  }
  return `${lines.join('\n')}\n\n`;
}

const REPO_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;

function yumRepos(ud: SeedFile, out: RepoFile[]): void {
  const repos = ud.map(['yum_repos']);
  if (repos === undefined) return;
  const dir = (ud.str(['yum_repo_dir']) ?? '/etc/yum.repos.d').replace(/\/+$/, '');
  for (const id of Object.keys(repos)) {
    const at: PathSeg[] = ['yum_repos', id];
    const settings = ud.map(at) ?? {};
    const canon = id.replace(/ /g, '-');
    if (!REPO_ID.test(canon)) {
      ud.error(at, 'repo-id', `"${id}" cannot be a repository id (it names the file ${canon}.repo)`, 'use letters, digits, "-", "_" and "."', 'key');
      continue;
    }
    if (!['baseurl', 'metalink', 'mirrorlist'].some((k) => k in settings)) {
      ud.unsupported(at, 'a repository without baseurl, metalink or mirrorlist is skipped by cloud-init too');
      continue;
    }
    out.push({ file: { path: `${dir}/${canon}.repo`, contents: repoFile(canon, settings), mode: '0644', overwrite: false }, from: at });
  }
}

function zypperRepos(ud: SeedFile, out: RepoFile[]): void {
  if (ud.map(['zypper']) === undefined) return;
  ud.rest(['zypper'], new Set(['repos']), { config: 'flint does not change zypp.conf: write /etc/zypp/zypp.conf.d/ settings under files:' });
  (ud.list(['zypper', 'repos']) ?? []).forEach((_, i) => {
    const at: PathSeg[] = ['zypper', 'repos', i];
    const r = ud.map(at);
    if (r === undefined) return;
    const id = typeof r.id === 'string' ? r.id : undefined;
    if (id === undefined || !REPO_ID.test(id) || typeof r.baseurl !== 'string') {
      ud.error(at, 'repo-id', 'a zypper repository needs an id (letters, digits, "-", "_", ".") and a baseurl', undefined, 'key');
      return;
    }
    const { id: _id, ...settings } = r;
    out.push({ file: { path: `/etc/zypp/repos.d/${id}.repo`, contents: repoFile(id, settings), mode: '0644', overwrite: false }, from: at });
  });
}

function aptSources(ud: SeedFile, out: RepoFile[]): void {
  if (ud.map(['apt']) === undefined) return;
  ud.rest(['apt'], new Set(['sources']), {
    preserve_sources_list: 'flint keeps the image\'s sources.list as it is',
    primary: 'flint does not change the image\'s mirrors: write /etc/apt/sources.list under files:',
    security: 'flint does not change the image\'s mirrors: write /etc/apt/sources.list under files:',
    conf: 'write it as /etc/apt/apt.conf.d/ files under files:',
    proxy: 'write Acquire::http::Proxy in /etc/apt/apt.conf.d/ under files:',
    http_proxy: 'write Acquire::http::Proxy in /etc/apt/apt.conf.d/ under files:',
    https_proxy: 'write Acquire::https::Proxy in /etc/apt/apt.conf.d/ under files:',
  });
  const sources = ud.map(['apt', 'sources']);
  if (sources === undefined) return;
  for (const name of Object.keys(sources)) {
    const at: PathSeg[] = ['apt', 'sources', name];
    const s = ud.map(at);
    if (s === undefined) continue;
    ud.rest(at, new Set(['source', 'key', 'filename']), { keyid: 'flint downloads no keys: give the armored key as key:', keyserver: 'flint downloads no keys: give the armored key as key:', append: 'flint writes one file per source' });
    const base = (typeof s.filename === 'string' ? s.filename : name).replace(/\.list$/, '');
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(base)) {
      ud.error(at, 'apt-source', `"${base}" cannot be a file name in /etc/apt/sources.list.d`, 'use letters, digits, "-", "_" and "."', 'key');
      continue;
    }
    const source = typeof s.source === 'string' ? s.source : undefined;
    if (source !== undefined && /\$(RELEASE|MIRROR|PRIMARY|SECURITY|KEY_FILE)/.test(source)) {
      ud.unsupported([...at, 'source'], 'cloud-init fills $RELEASE, $MIRROR and $PRIMARY from the running distribution: write the codename and mirror out');
    } else if (source !== undefined) {
      out.push({ file: { path: `/etc/apt/sources.list.d/${base}.list`, contents: `${source.trim()}\n`, mode: '0644' }, from: [...at, 'source'] });
    }
    if (typeof s.key === 'string') {
      if (!s.key.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')) ud.error([...at, 'key'], 'apt-key', 'key must be an ASCII-armored PGP public key (-----BEGIN PGP PUBLIC KEY BLOCK-----)');
      else out.push({ file: { path: `/etc/apt/trusted.gpg.d/${base}.asc`, contents: s.key.endsWith('\n') ? s.key : `${s.key}\n`, mode: '0644' }, from: [...at, 'key'] });
    }
  }
}

export function convertRepos(ud: SeedFile): RepoFile[] {
  const out: RepoFile[] = [];
  yumRepos(ud, out);
  zypperRepos(ud, out);
  aptSources(ud, out);
  return out;
}

export const REPO_KEYS = ['yum_repos', 'yum_repo_dir', 'zypper', 'apt'] as const;

