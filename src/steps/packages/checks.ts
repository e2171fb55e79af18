/**
 * Checks of packages: package names, and package files from the medium (file:, .deb or .rpm, one name once).
 * Run with the other semantic checks (src/config/semantic.ts): config-layer code kept
 * beside the step, so it imports nothing above src/config.
 */
import type { PathSeg } from '../../config/diagnostics.js';
import { checkSource } from '../../config/checks/source.js';
import { isObj, strs } from '../../config/checks/read.js';
import type { Obj, Sink } from '../../config/checks/read.js';

export function check(cfg: Obj, r: Sink): void {
  if (isObj(cfg.packages)) checkPackages(cfg.packages, r);
}

function checkPackages(p: Obj, r: Sink): void {
  for (const [n, j] of strs(p.install)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9+._~:=@-]*$/.test(n)) r.error(['packages', 'install', j], 'package-name', `"${n}" is not a package name`, 'write one name per item, e.g. nginx or nginx=1.22.1-9 (apt)');
  }
  for (const [f, j] of strs(p.files)) {
    const at: PathSeg[] = ['packages', 'files', j];
    if (!f.startsWith('file:')) r.error(at, 'package-file', 'a package file is file: plus its path on the medium, relative to the config\'s folder', 'e.g. file:packages/tool_1.0_all.deb');
    else {
      checkSource(at, f, false, r);
      if (!/\.(deb|rpm)$/.test(f)) r.error(at, 'package-file', 'a package file ends in .deb or .rpm');
    }
  }
  const names = strs(p.files).map(([f]) => f.split('/').pop() ?? f);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) r.error(['packages', 'files'], 'package-file', `two package files are named ${dup}; they are copied into one folder`, 'rename one of them', 'key');
}
