/**
 * A Combustion stick that runs flint: what a stock openSUSE MicroOS (or any image with
 * Combustion) does with it is run `combustion/script`, chrooted into the new root, from
 * a copy of the combustion/ folder (shared/docs/peers/combustion.md, section 4). The
 * script starts the self-contained flint from that folder on flint/config.yaml, so
 * flint's checks, journal and report run on an image that has no node and no flint, and
 * flint's exit status is the script's: Combustion rolls its snapshot back on failure.
 */
import { parse } from 'yaml';
import type { Arch } from './executable-names.js';
import { EXECUTABLE_NAME } from './executable-names.js';
import type { MediumFile } from './medium.js';
import type { PreparedConfig } from './prepare.js';

/** The folder Combustion copies and runs the script in. */
export const COMBUSTION_DIR = 'combustion';

/** Whether the config needs the network during Combustion: network.in_initrd, or an http(s) source to fetch. */
export function needsNetwork(config: unknown): boolean {
  const c = config as { network?: { in_initrd?: unknown } } | null;
  if (c?.network?.in_initrd === true) return true;
  const walk = (v: unknown, key: string | undefined): boolean => {
    if (typeof v === 'string') return key === 'source' && /^https?:\/\//.test(v);
    if (Array.isArray(v)) return v.some((x) => walk(x, key));
    if (v !== null && typeof v === 'object') return Object.entries(v).some(([k, x]) => walk(x, k));
    return false;
  };
  return walk(config, undefined);
}

/** combustion/script: picks the executable for the machine and hands over to flint apply. */
export function combustionScript(o: { version: string; network: boolean; config: string; arches: readonly Arch[] }): string {
  const cases = o.arches.map((a) => `  ${a}) exe=./${EXECUTABLE_NAME[a]} ;;`).join('\n');
  return `#!/bin/bash
${o.network ? '# combustion: network\n' : ''}# Written by flint drive create --for combustion (flint ${o.version}).
# Combustion runs this chrooted into the new root, from its copy of this folder. flint
# checks flint/${o.config}, applies it all or nothing and writes its report to
# /var/log/flint/result.json; a non-zero exit makes Combustion roll its snapshot back.
set -euo pipefail
# Nothing to do before the root is mounted (Combustion runs --prepare only with the
# "prepare" marker, which this script does not have).
if [ "\${1-}" = "--prepare" ]; then exit 0; fi
case "$(uname -m)" in
${cases}
  *) echo "flint: this stick has no flint for $(uname -m) (it has: ${o.arches.join(', ')})" >&2; exit 1 ;;
esac
# Combustion makes only the script executable.
chmod a+x "$exe"
exec "$exe" apply --root / flint/${o.config}
`;
}

/** The files of the stick: the script, one executable per architecture, the config and its payloads. */
export function combustionFiles(prepared: PreparedConfig, executables: ReadonlyArray<{ arch: Arch; data: Buffer }>, version: string): MediumFile[] {
  const network = needsNetwork(parse(prepared.text));
  const script = combustionScript({ version, network, config: prepared.name, arches: executables.map((e) => e.arch) });
  return [
    { rel: `${COMBUSTION_DIR}/script`, data: script },
    ...executables.map((e) => ({ rel: `${COMBUSTION_DIR}/${EXECUTABLE_NAME[e.arch]}`, data: e.data })),
    { rel: `${COMBUSTION_DIR}/flint/${prepared.name}`, data: prepared.text },
    ...prepared.payloads.map((p) => ({ rel: `${COMBUSTION_DIR}/flint/${p.rel}`, data: p.data })),
  ];
}
