/**
 * The shape of Ignition config specs 3.0.0 to 3.6.0, as data: every key, its type, and the
 * spec version that introduced it (coreos/ignition config/v3_x/types, docs/configuration-v3_x.md).
 * One table serves all versions: a key whose `since` is newer than the config's version
 * is an error that names the version that has it.
 */

export const SUPPORTED_VERSIONS = ['3.0.0', '3.1.0', '3.2.0', '3.3.0', '3.4.0', '3.5.0', '3.6.0'] as const;
export type SpecVersion = (typeof SUPPORTED_VERSIONS)[number];

export type Shape =
  | { kind: 'string' }
  | { kind: 'int' }
  | { kind: 'bool' }
  | { kind: 'list'; of: Shape }
  | { kind: 'object'; fields: Readonly<Record<string, Field>> };

export interface Field {
  shape: Shape;
  /** First spec version with this key; absent: 3.0.0. */
  since?: SpecVersion;
}

const str: Shape = { kind: 'string' };
const int: Shape = { kind: 'int' };
const bool: Shape = { kind: 'bool' };
const list = (of: Shape): Shape => ({ kind: 'list', of });
const obj = (fields: Record<string, Field | Shape>): Shape => ({
  kind: 'object',
  fields: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, 'kind' in v ? { shape: v } : v])),
});
const since = (v: SpecVersion, shape: Shape): Field => ({ shape, since: v });

const resource = obj({
  source: str,
  compression: since('3.1.0', str),
  httpHeaders: since('3.1.0', list(obj({ name: str, value: str }))),
  verification: obj({ hash: str }),
});

const nodeOwner = obj({ id: int, name: str });

export const CONFIG_SHAPE: Shape = obj({
  ignition: obj({
    version: str,
    config: obj({ merge: list(resource), replace: resource }),
    timeouts: obj({ httpResponseHeaders: int, httpTotal: int }),
    security: obj({ tls: obj({ certificateAuthorities: list(resource) }) }),
    proxy: since('3.1.0', obj({ httpProxy: str, httpsProxy: str, noProxy: list(str) })),
  }),
  storage: obj({
    disks: list(
      obj({
        device: str,
        wipeTable: bool,
        partitions: list(
          obj({
            label: str,
            number: int,
            sizeMiB: int,
            startMiB: int,
            typeGuid: str,
            guid: str,
            wipePartitionEntry: bool,
            shouldExist: bool,
            resize: since('3.2.0', bool),
          }),
        ),
      }),
    ),
    raid: list(obj({ name: str, level: str, devices: list(str), spares: int, options: list(str) })),
    filesystems: list(
      obj({
        device: str,
        format: str,
        path: str,
        wipeFilesystem: bool,
        label: str,
        uuid: str,
        options: list(str),
        mountOptions: since('3.1.0', list(str)),
      }),
    ),
    files: list(obj({ path: str, overwrite: bool, contents: resource, append: list(resource), mode: int, user: nodeOwner, group: nodeOwner })),
    directories: list(obj({ path: str, overwrite: bool, mode: int, user: nodeOwner, group: nodeOwner })),
    links: list(obj({ path: str, overwrite: bool, target: str, hard: bool, user: nodeOwner, group: nodeOwner })),
    luks: since(
      '3.2.0',
      list(
        obj({
          name: str,
          device: str,
          keyFile: resource,
          label: str,
          uuid: str,
          options: list(str),
          wipeVolume: bool,
          discard: since('3.4.0', bool),
          openOptions: since('3.4.0', list(str)),
          cex: since('3.5.0', obj({ enabled: bool })),
          clevis: obj({
            tang: list(obj({ url: str, thumbprint: str, advertisement: since('3.4.0', str) })),
            tpm2: bool,
            threshold: int,
            custom: obj({ pin: str, config: str, needsNetwork: bool }),
          }),
        }),
      ),
    ),
  }),
  systemd: obj({
    units: list(obj({ name: str, enabled: bool, mask: bool, contents: str, dropins: list(obj({ name: str, contents: str })) })),
  }),
  passwd: obj({
    users: list(
      obj({
        name: str,
        passwordHash: str,
        sshAuthorizedKeys: list(str),
        uid: int,
        gecos: str,
        homeDir: str,
        noCreateHome: bool,
        primaryGroup: str,
        groups: list(str),
        noUserGroup: bool,
        noLogInit: bool,
        shell: str,
        system: bool,
        shouldExist: since('3.2.0', bool),
      }),
    ),
    groups: list(obj({ name: str, gid: int, passwordHash: str, system: bool, shouldExist: since('3.2.0', bool) })),
  }),
  kernelArguments: since('3.3.0', obj({ shouldExist: list(str), shouldNotExist: list(str) })),
});

/** -1, 0, 1 as semver order, for the plain x.y.z versions above. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

export function isSupportedVersion(v: string): v is SpecVersion {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}
