/**
 * `systemctl enable`, `disable`, `mask`, `unmask` and `set-default` worked out offline:
 * a port of systemctl's own install logic (systemd 252, src/shared/install.c) over a view
 * of the target as it will be after the changes planned so far. The systemd step uses it
 * for the config's units, other steps (containers, network) through installLinks; the
 * integration test holds its links against what the target's systemctl makes.
 */
import { posix } from 'node:path';
import type { Action } from '../../engine/actions.js';
import { TargetError, parentOf } from '../../target/root.js';
import type { TargetRoot } from '../../target/root.js';
import { applyInstall, checkAlias, emptyInstall, expandSpecifiers, instanceOf, mayTemplate, parseInstall, parseOsRelease, replaceInstance, symlinkNameCompatible, templateOf, unitNameKind, unitType } from './units.js';
import type { InstallData, InstallOptions } from './units.js';

/** Where systemctl writes: the persistent configuration folder. */
export const CONFIG_DIR = '/etc/systemd/system';
/** systemd 254 added UpheldBy= to [Install]. */
const UPHELD_BY_SINCE = 254;
/** UNIT_FILE_FOLLOW_SYMLINK_MAX */
const MAX_ALIAS_HOPS = 64;
const MAX_LINK_HOPS = 40;

/**
 * The target's unit search path, without /run. systemd before 255 built with a split
 * /usr (Debian 12, Ubuntu 22.04) puts /lib/systemd/system before /usr/lib/systemd/system;
 * on a merged /usr both are one folder, but the name found first is the one links
 * point to. Such a build is recognised by its package shipping units under /lib.
 */
export function unitSearchPath(root: TargetRoot): string[] {
  // Asked for every unit name planning looks up: read once per target (listing dpkg's
  // thousand files and reading systemd's list each time cost a third of a second of an
  // emulated first boot).
  const known = searchPaths.get(root);
  if (known !== undefined) return known;
  // Debian's systemd is not Multi-Arch, so its list is systemd.list; others are looked for.
  const plain = root.readText('/var/lib/dpkg/info/systemd.list');
  const lists = plain !== undefined ? [plain] : root.list('/var/lib/dpkg/info').filter((n) => /^systemd(:[a-z0-9]+)?\.list$/.test(n)).map((n) => root.readText(`/var/lib/dpkg/info/${n}`) ?? '');
  const libFirst = lists.some((text) => /^\/lib\/systemd\/system\//m.test(text));
  const vendor = libFirst ? ['/lib/systemd/system', '/usr/lib/systemd/system'] : ['/usr/lib/systemd/system', '/lib/systemd/system'];
  const path = ['/etc/systemd/system.control', CONFIG_DIR, '/etc/systemd/system.attached', '/usr/local/lib/systemd/system', ...vendor];
  searchPaths.set(root, path);
  return path;
}

const searchPaths = new WeakMap<TargetRoot, string[]>();

/** The target's systemd version, from the name of its shared library; undefined when not found. */
export function systemdVersion(root: TargetRoot): number | undefined {
  const multiarch = root.list('/usr/lib').filter((n) => n.includes('-linux-')).map((n) => `/usr/lib/${n}/systemd`);
  for (const dir of ['/usr/lib/systemd', '/usr/lib64/systemd', '/lib/systemd', '/lib64/systemd', ...multiarch]) {
    for (const name of root.list(dir)) {
      const m = /^libsystemd-(?:shared|core)-(\d+)/.exec(name);
      if (m) return Number(m[1]);
    }
  }
  return undefined;
}

// ---------------------------------------------------------------- a view of the target

type Node =
  | { type: 'missing' }
  | { type: 'file'; size: number; read: () => Buffer }
  | { type: 'dir' }
  | { type: 'symlink'; target: string }
  | { type: 'other' };

type Overlay = { type: 'file'; data: Buffer } | { type: 'symlink'; target: string } | { type: 'missing' };

/** The target as it will be after the changes planned so far: what planning reads, never written. */
export class UnitView {
  private readonly over = new Map<string, Overlay>();

  constructor(readonly root: TargetRoot) {}

  /** `path` with intermediate symlinks followed inside the root (the last one kept), in target terms. */
  parents(path: string): string {
    return this.root.targetPathOf(this.root.resolve(path));
  }

  set(path: string, node: Overlay): void {
    this.over.set(this.parents(path), node);
  }

  entry(path: string): Node {
    const p = this.parents(path);
    const o = this.over.get(p);
    if (o !== undefined) {
      if (o.type !== 'file') return o;
      const data = o.data;
      return { type: 'file', size: data.length, read: () => data };
    }
    const e = this.root.entry(p);
    switch (e.type) {
      case 'file': return { type: 'file', size: e.size, read: () => this.root.readFile(p) ?? Buffer.alloc(0) };
      case 'symlink': return { type: 'symlink', target: e.target };
      case 'dir': return { type: 'dir' };
      case 'missing': return { type: 'missing' };
      case 'other': return { type: 'other' };
    }
  }

  /** Follows every symlink; where it ends and what is there. */
  chase(path: string): { path: string; node: Node } {
    let p = path;
    for (let hops = 0; hops <= MAX_LINK_HOPS; hops++) {
      const q = this.parents(p);
      const node = this.entry(q);
      if (node.type !== 'symlink') return { path: q, node };
      p = absoluteTarget(q, node.target);
    }
    throw new TargetError(`too many symbolic links resolving ${path}`, path);
  }

  /**
   * null_or_empty_path_with_root(): a mask. A link to /dev/null counts even where the
   * image has no /dev/null (its /dev is filled at boot).
   */
  isNull(path: string): boolean {
    const end = this.chase(path);
    return end.path === '/dev/null' || end.node.type === 'other' || (end.node.type === 'file' && end.node.size === 0);
  }

  list(dir: string): string[] {
    const d = this.parents(dir);
    const names = new Set(this.root.list(d));
    for (const [p, o] of this.over) {
      if (parentOf(p) !== d) continue;
      const name = p.slice(d === '/' ? 1 : d.length + 1);
      if (o.type === 'missing') names.delete(name);
      else names.add(name);
    }
    return [...names].sort();
  }
}

function absoluteTarget(linkPath: string, target: string): string {
  return posix.normalize(target.startsWith('/') ? target : `${parentOf(linkPath)}/${target}`);
}

// ---------------------------------------------------------------- systemctl's install logic

type Mode = 'regular' | 'masked' | 'alias' | 'linked';

interface Info extends InstallData {
  name: string;
  path: string | undefined;
  mode: Mode | undefined;
  symlinkTarget: string | undefined;
  /** Named by Also= only: a failure is a warning, as systemctl makes it. */
  auxiliary: boolean;
  /** Index of the config unit that brought it in (-1: default_target). */
  origin: number;
}

type FailCode = 'enoent' | 'enolink' | 'eloop' | 'other';

class Fail extends Error {
  constructor(message: string, readonly code: FailCode = 'other', readonly hint?: string) {
    super(message);
  }
}

interface LinkPlan {
  target: string;
  why: string;
}

interface InstallProblem {
  origin: number;
  key: string;
  message: string;
  hint?: string;
}

/** One InstallContext of install.c at a time, plus everything planned so far. */
export class Installer {
  readonly warnings: string[] = [];
  readonly problems: InstallProblem[] = [];
  /** Links to have, by path, in the order planned. */
  readonly links = new Map<string, LinkPlan>();
  /** Links to remove, then folders left empty (deepest first), with why. */
  readonly removals = new Map<string, string>();
  private will = new Map<string, Info>();
  private done = new Map<string, Info>();
  /** The config key problems of the current operation belong to. */
  private key = 'enabled';

  constructor(
    private readonly view: UnitView,
    private readonly search: readonly string[],
    private readonly opts: InstallOptions,
  ) {}

  private reset(key: string): void {
    this.will = new Map();
    this.done = new Map();
    this.key = key;
  }

  private problem(origin: number, message: string, hint?: string): void {
    if (this.problems.some((p) => p.origin === origin && p.message === message)) return;
    this.problems.push({ origin, key: this.key, message, ...(hint !== undefined ? { hint } : {}) });
  }

  private warn(message: string): void {
    if (!this.warnings.includes(message)) this.warnings.push(message);
  }

  /** install_info_add() */
  private add(name: string, auxiliary: boolean, origin: number): Info {
    if (unitNameKind(name) === undefined) throw new Fail(`"${name}" is not a valid unit name`);
    const known = this.will.get(name) ?? this.done.get(name);
    if (known !== undefined) {
      known.auxiliary &&= auxiliary;
      return known;
    }
    const info: Info = { ...emptyInstall(), name, path: undefined, mode: undefined, symlinkTarget: undefined, auxiliary, origin };
    this.will.set(name, info);
    return info;
  }

  private fresh(name: string, origin: number): Info {
    return { ...emptyInstall(), name, path: undefined, mode: undefined, symlinkTarget: undefined, auxiliary: false, origin };
  }

  /** unit_file_load_or_readlink(): false when nothing is at `path`. */
  private load(info: Info, path: string, load: boolean): boolean {
    const kind = unitNameKind(info.name);
    if ((kind === 'template' || kind === 'instance') && !mayTemplate(info.name)) throw new Fail(`.${unitType(info.name)} units cannot be templates`);
    const e = this.view.entry(path);
    switch (e.type) {
      case 'missing':
        return false;
      case 'dir':
        throw new Fail(`${path} is a folder, not a unit file`);
      case 'other':
        // null_or_empty(): every character device counts as /dev/null.
        info.mode = 'masked';
        return true;
      case 'file':
        if (e.size === 0) {
          info.mode = 'masked';
          return true;
        }
        if (load) this.parse(info, path, e.read());
        info.mode = 'regular';
        return true;
      case 'symlink': {
        // unit_file_resolve_symlink(): intermediate links followed, the last one not.
        const simplified = this.view.parents(absoluteTarget(this.view.parents(path), e.target));
        const inSearch = this.search.some((d) => simplified.startsWith(`${d}/`));
        if (inSearch) {
          const v = checkAlias(posix.basename(path), posix.basename(simplified));
          if (v === 'self') throw new Fail(`${path} is a link to ${simplified}, a unit file of the same name: systemctl refuses to operate on such linked unit files`, 'eloop', `remove the link ${path} from the image`);
          if (v !== 'ok') throw new Fail(`${path} is an invalid alias of ${simplified}: ${v}`);
        }
        if (this.view.isNull(simplified)) info.mode = 'masked';
        else info.mode = inSearch ? 'alias' : 'linked';
        info.symlinkTarget = simplified;
        return true;
      }
    }
  }

  private parse(info: Info, path: string, data: Buffer): void {
    const parsed = parseInstall(data.toString('utf8'));
    for (const w of parsed.warnings) this.warn(`${path}: ${w}`);
    if (parsed.error !== undefined) throw new Fail(`${path}: ${parsed.error}`, 'other', 'fix the unit file; systemctl cannot read it either');
    const before = info.also.length;
    const err = applyInstall(info, info.name, path, parsed.assignments, this.opts, (m) => this.warn(m));
    if (err !== undefined) throw new Fail(err);
    for (const also of info.also.slice(before)) this.add(also, true, info.origin);
  }

  /** unit_file_search(): the unit file (or its template's), then its drop-ins. */
  private searchUnit(info: Info, load: boolean): void {
    if (info.mode !== undefined) return;
    if (info.path !== undefined) {
      if (!this.load(info, info.path, load)) throw new Fail(`${info.path} does not exist`, 'enoent');
      return;
    }
    const template = unitNameKind(info.name) === 'instance' ? templateOf(info.name) : undefined;
    const tryNames = template === undefined ? [info.name] : [info.name, template];
    let found = false;
    for (const name of tryNames) {
      for (const dir of this.search) {
        const p = `${dir}/${name}`;
        if (this.load(info, p, load)) {
          info.path = p;
          found = true;
          break;
        }
      }
      if (found) break;
    }
    if (!found) throw new Fail(`${info.name} does not exist in the target (looked for ${tryNames.join(' and ')} in ${this.search.join(', ')})`, 'enoent');
    if (info.mode === 'masked' || !load) return;
    const dirs = tryNames.flatMap((name) => this.search.map((d) => `${d}/${name}.d`));
    // conf_files_list_strv(): the first folder with a name wins, then by name.
    const files = new Map<string, string>();
    for (const dir of dirs) {
      for (const name of this.view.list(dir)) {
        if (!name.endsWith('.conf') || name.startsWith('.') || files.has(name)) continue;
        const t = this.view.entry(`${dir}/${name}`).type;
        if (t === 'file' || t === 'symlink') files.set(name, `${dir}/${name}`);
      }
    }
    for (const name of [...files.keys()].sort()) {
      const p = files.get(name) ?? '';
      if (this.view.isNull(p)) continue;
      const end = this.view.chase(p).node;
      if (end.type === 'missing') throw new Fail(`the drop-in ${p} is a dangling link`, 'other', 'remove it from the image');
      if (end.type === 'dir') throw new Fail(`the drop-in ${p} is a folder`);
      if (end.type === 'file') this.parse(info, p, end.read());
    }
  }

  /** install_info_follow() */
  private follow(info: Info, load: boolean, ignoreDifferentName: boolean): boolean {
    const target = info.symlinkTarget ?? '';
    if (!ignoreDifferentName && posix.basename(target) !== info.name) return false;
    info.path = target;
    info.symlinkTarget = undefined;
    info.mode = undefined;
    if (!this.load(info, target, load)) throw new Fail(`${info.name} links to ${target}, which does not exist`, 'enolink');
    return true;
  }

  /** install_info_traverse(): the unit behind a name, following aliases. */
  private traverse(start: Info, load: boolean, followConfig: boolean): Info {
    this.searchUnit(start, load);
    let i = start;
    let hops = 0;
    while (i.mode === 'alias' || i.mode === 'linked') {
      if (++hops > MAX_ALIAS_HOPS) throw new Fail(`too many levels of aliases behind ${start.name}`, 'eloop');
      if (!followConfig && parentOf(i.path ?? '') === CONFIG_DIR) {
        throw new Fail(`${i.path ?? i.name} is a link: systemctl refuses to operate on alias names and linked unit files`, 'eloop', `name the unit it links to (${posix.basename(i.symlinkTarget ?? '')})`);
      }
      if (this.follow(i, load, i.mode === 'linked')) continue;
      let next = posix.basename(i.symlinkTarget ?? '');
      if (unitNameKind(i.name) === 'instance' && unitNameKind(next) === 'template') {
        const withInstance = replaceInstance(next, instanceOf(i.name) ?? '');
        if (withInstance === undefined) throw new Fail(`cannot give ${next} the instance of ${i.name}`);
        if (withInstance === i.name) {
          this.follow(i, load, true);
          continue;
        }
        next = withInstance;
      }
      const from = i.name;
      i = this.add(next, false, i.origin);
      try {
        this.searchUnit(i, load);
      } catch (e) {
        if (e instanceof Fail && e.code === 'enoent') throw new Fail(`${from} is an alias of ${next}, which does not exist`, 'enolink');
        throw e;
      }
    }
    return i;
  }

  /** Whether a unit of this name can be found (unit_file_exists(), for systemctl's warning only). */
  private exists(name: string): boolean {
    try {
      this.searchUnit(this.fresh(name, -1), false);
      return true;
    } catch (e) {
      return !(e instanceof Fail && e.code === 'enoent');
    }
  }

  /**
   * chroot_unit_symlinks_equivalent(): two link targets are the same when they are one
   * path or one file, or when both are in the unit search path under the same name
   * (whichever folder holds it, systemd loads the unit by name).
   */
  private equivalent(linkPath: string, a: string, b: string): boolean {
    const pa = absoluteTarget(linkPath, a);
    const pb = absoluteTarget(linkPath, b);
    if (pa === pb) return true;
    const ea = this.view.chase(pa);
    const eb = this.view.chase(pb);
    if (ea.node.type !== 'missing' && eb.node.type !== 'missing' && ea.path === eb.path) return true;
    const inSearch = (p: string): boolean => this.search.some((d) => p.startsWith(`${d}/`));
    return posix.basename(pa) === posix.basename(pb) && inSearch(pa) && inSearch(pb);
  }

  /**
   * create_symlink(): a link that is already there and equivalent is kept as it is
   * (so a second run changes nothing); another link is replaced only with `force`;
   * anything else at the path is an error, as it is for systemctl.
   */
  private link(path: string, target: string, force: boolean, origin: number, why: string): boolean {
    // Two operations of this config wanting one path differently is the config's
    // contradiction, whatever systemctl's order would make of it.
    const planned = this.links.get(path);
    if (planned !== undefined && !this.equivalent(path, planned.target, target)) {
      this.problem(origin, `${path} is wanted both as ${planned.why} (-> ${planned.target}) and as ${why} (-> ${target})`);
      return false;
    }
    const e = this.view.entry(path);
    let keep = target;
    if (e.type === 'symlink') {
      if (this.equivalent(path, e.target, target)) keep = e.target;
      else if (!force) {
        this.problem(origin, `${path} already exists and is a link to ${e.target}`, 'remove it from the image, or drop the Alias=');
        return false;
      }
    } else if (e.type !== 'missing') {
      this.problem(origin, `${path} already exists and is not a link (${e.type})`, 'remove it from the image');
      return false;
    }
    this.links.set(path, { target: keep, why });
    this.removals.delete(path);
    this.view.set(path, { type: 'symlink', target: keep });
    return true;
  }

  // -------------------------------------------------------------- systemctl enable

  enable(units: ReadonlyArray<{ name: string; origin: number }>): void {
    this.reset('enabled');
    const named: Info[] = [];
    for (const u of units) {
      try {
        const fin = this.traverse(this.add(u.name, false, u.origin), true, true);
        if (fin.mode === 'masked') throw new Fail(`${fin.path ?? fin.name} is masked`, 'other', 'unmask it (masked: false) or remove the mask from the image');
        named.push(fin);
      } catch (e) {
        this.fail(u.origin, e);
        this.will.delete(u.name);
      }
    }
    const links = new Map<number, number>();
    for (let first = this.will.values().next(); !first.done; first = this.will.values().next()) {
      const i = first.value;
      this.will.delete(i.name);
      this.done.set(i.name, i);
      try {
        this.traverse(i, true, false);
      } catch (e) {
        if (!i.auxiliary) this.fail(i.origin, e);
        else this.warn(`${i.name} (named by Also=) cannot be enabled: ${e instanceof Error ? e.message : String(e)}; ignored, as systemctl does`);
        continue;
      }
      if (i.mode === 'masked') {
        this.warn(`${i.name} (named by Also=) is masked; not enabled, as systemctl does`);
        links.set(i.origin, (links.get(i.origin) ?? 0) + 1);
        continue;
      }
      if (i.mode !== 'regular') continue;
      const n = this.applyInfo(i);
      links.set(i.origin, (links.get(i.origin) ?? 0) + n);
    }
    for (const i of named) {
      if ((links.get(i.origin) ?? 0) === 0 && i.also.length === 0) {
        this.warn(`${i.name}: its [Install] section has no WantedBy=, RequiredBy=, UpheldBy=, Alias= or Also=${unitNameKind(i.name) === 'template' ? ' (nor DefaultInstance=)' : ''}, so enabling it links nothing, as with systemctl enable`);
      }
    }
  }

  private fail(origin: number, e: unknown): void {
    if (e instanceof Fail) this.problem(origin, e.message, e.hint);
    else if (e instanceof TargetError) this.problem(origin, e.message);
    else throw e;
  }

  /** install_info_apply(): the links one unit's [Install] section asks for; returns how many rules it had. */
  private applyInfo(i: Info): number {
    const path = i.path ?? '';
    // install_info_symlink_link(): a unit file outside the search path is linked in first.
    if (!this.search.includes(parentOf(path)) && !this.link(`${CONFIG_DIR}/${i.name}`, path, false, i.origin, `link ${i.name} into the unit search path`)) return 0;
    for (const a of i.aliases) this.alias(i, path, a);
    this.wants(i, path, i.wantedBy, 'wants', 'WantedBy');
    this.wants(i, path, i.requiredBy, 'requires', 'RequiredBy');
    this.wants(i, path, i.upheldBy, 'upholds', 'UpheldBy');
    return i.aliases.length + i.wantedBy.length + i.requiredBy.length + i.upheldBy.length;
  }

  private expand(i: Info, format: string): string | undefined {
    const r = expandSpecifiers(format, { name: i.name, defaultInstance: i.defaultInstance, osRelease: this.opts.osRelease });
    if ('value' in r) return r.value;
    this.problem(i.origin, `${i.name}: "${format}" in [Install]: ${r.error}`);
    return undefined;
  }

  /** install_info_symlink_alias() with unit_file_verify_alias() */
  private alias(i: Info, path: string, format: string): void {
    const dst = this.expand(i, format);
    if (dst === undefined) return;
    let name = dst;
    if (dst.includes('/')) {
      // The legacy form Alias=X.wants/NAME.
      const dir = dst.slice(0, dst.lastIndexOf('/'));
      const m = /^(.*)\.(wants|requires)$/.exec(dir);
      const dirKind = m === null ? undefined : unitNameKind(m[1] ?? '');
      if (dirKind === undefined) {
        this.problem(i.origin, `${i.name}: Alias=${dst} is no valid unit reference`);
        return;
      }
      if (!symlinkNameCompatible(dst.slice(dst.lastIndexOf('/') + 1), i.name, dirKind === 'template')) {
        this.problem(i.origin, `${i.name} cannot be aliased as ${dst}`);
        return;
      }
    } else {
      if (unitNameKind(dst) === 'template' && unitNameKind(i.name) === 'instance') name = replaceInstance(dst, instanceOf(i.name) ?? '') ?? dst;
      const v = checkAlias(name, i.name);
      if (v === 'self') return;
      if (v !== 'ok') {
        this.problem(i.origin, `${i.name} cannot be aliased as ${name}: ${v}`);
        return;
      }
    }
    const aliasPath = `${CONFIG_DIR}/${name}`;
    // A link whose target is gone may be replaced; a live one is somebody else's alias.
    const broken = this.view.chase(aliasPath).node.type === 'missing';
    this.link(aliasPath, path, broken, i.origin, `alias ${name} of ${i.name}`);
  }

  /** install_info_symlink_wants() */
  private wants(i: Info, path: string, list: readonly string[], suffix: string, key: string): void {
    if (list.length === 0) return;
    const kind = unitNameKind(i.name);
    let n = i.name;
    let templatesOnly = false;
    if (kind === 'template' && i.defaultInstance !== undefined) {
      const inst = replaceInstance(i.name, i.defaultInstance);
      if (inst === undefined) {
        this.problem(i.origin, `${i.name}: DefaultInstance=${i.defaultInstance} gives no valid unit name`);
        return;
      }
      const probe = this.fresh(inst, i.origin);
      try {
        this.searchUnit(probe, false);
      } catch (e) {
        this.fail(i.origin, e);
        return;
      }
      if (probe.mode === 'masked') {
        this.problem(i.origin, `${probe.path ?? inst} is masked`, 'remove the mask from the image');
        return;
      }
      n = inst;
    } else if (kind === 'template') {
      // A template without an instance can only be wanted by templates (the instance is filled in later).
      templatesOnly = true;
    }
    for (const format of list) {
      const dst = this.expand(i, format);
      if (dst === undefined) continue;
      const dstKind = unitNameKind(dst);
      if (dstKind === undefined) {
        this.problem(i.origin, `${i.name}: ${key}=${format} gives "${dst}", which is not a valid unit name`);
        continue;
      }
      if (templatesOnly && dstKind === 'plain') {
        this.problem(i.origin, `${i.name} is a template without DefaultInstance=, and ${key}= names ${dst}, which is not a template`, `enable an instance (e.g. ${replaceInstance(i.name, 'main') ?? i.name}) or add DefaultInstance= under [Install]`);
        continue;
      }
      this.link(`${CONFIG_DIR}/${dst}.${suffix}/${n}`, path, true, i.origin, `enable ${n} (${key}=${dst})`);
      if (!this.exists(dst)) this.warn(`${n} is added as a dependency to ${dst}, which does not exist in the target`);
    }
  }

  // -------------------------------------------------------------- systemctl disable

  disable(units: ReadonlyArray<{ name: string; origin: number }>): void {
    this.reset('enabled');
    for (const u of units) {
      try {
        this.traverse(this.add(u.name, false, u.origin), true, true);
      } catch (e) {
        this.will.delete(u.name);
        if (e instanceof Fail && e.code === 'enoent') this.warn(`${u.name} does not exist in the target: nothing to disable`);
        else this.fail(u.origin, e);
      }
    }
    // install_context_mark_for_removal(): names whose links go.
    const marks = new Set<string>();
    for (let first = this.will.values().next(); !first.done; first = this.will.values().next()) {
      const i = first.value;
      this.will.delete(i.name);
      this.done.set(i.name, i);
      try {
        this.traverse(i, true, true);
      } catch {
        // A unit that cannot be loaded still has its leftover links removed.
        marks.add(i.name);
        continue;
      }
      if (i.mode === 'regular') marks.add(i.name);
    }
    if (marks.size === 0) return;
    // remove_marked_symlinks(): every link named like a marked unit (or its template), or
    // ending at a file of that name. systemctl also marks the path of each link it
    // removes, but with --root (as offline) those paths never match, so a link to a
    // removed link stays, dangling; entries are visited in name order.
    const removed: string[] = [];
    const walk = (dir: string): void => {
      for (const name of this.view.list(dir)) {
        const p = `${dir}/${name}`;
        const e = this.view.entry(p);
        if (e.type === 'dir') {
          walk(p);
          continue;
        }
        if (e.type !== 'symlink' || unitNameKind(name) === undefined || this.links.has(p)) continue;
        const template = templateOf(name);
        let found = marks.has(name) || (template !== undefined && marks.has(template));
        if (!found) {
          try {
            found = marks.has(posix.basename(this.view.chase(p).path));
          } catch {
            continue;
          }
        }
        if (!found) continue;
        this.view.set(p, { type: 'missing' });
        this.removals.set(p, `disable: link to ${posix.basename(absoluteTarget(p, e.target))}`);
        removed.push(p);
      }
    };
    walk(CONFIG_DIR);
    // rmdir_parents(): folders the removals left empty go too.
    for (const p of removed) {
      for (let dir = parentOf(p); dir.startsWith(`${CONFIG_DIR}/`); dir = parentOf(dir)) {
        if (this.view.entry(dir).type !== 'dir' || this.view.list(dir).length > 0) break;
        this.view.set(dir, { type: 'missing' });
        this.removals.set(dir, 'disable: folder left empty');
      }
    }
  }

  // -------------------------------------------------------------- mask, unmask, set-default

  mask(name: string, origin: number): void {
    this.key = 'masked';
    const path = `${CONFIG_DIR}/${name}`;
    const e = this.view.entry(path);
    if (e.type === 'symlink' && this.equivalent(path, e.target, '/dev/null')) {
      this.links.set(path, { target: e.target, why: `mask ${name}` });
      return;
    }
    if (e.type === 'file' && e.size === 0) return; // an empty unit file masks it already
    if (e.type !== 'missing') {
      this.problem(origin, `${path} already exists (${e.type === 'symlink' ? `a link to ${e.target}` : e.type}); systemctl mask refuses to replace it`, 'remove it from the image, or do not mask the unit');
      return;
    }
    this.links.set(path, { target: '/dev/null', why: `mask ${name}` });
    this.view.set(path, { type: 'symlink', target: '/dev/null' });
  }

  /** unit_file_unmask(): a mask in /etc/systemd/system (a link to /dev/null or an empty file) goes. */
  unmask(name: string): void {
    const path = `${CONFIG_DIR}/${name}`;
    if (this.view.entry(path).type === 'missing' || !this.view.isNull(path)) return;
    this.removals.set(path, `unmask ${name}`);
    this.view.set(path, { type: 'missing' });
  }

  setDefault(name: string): void {
    this.reset('default_target');
    if (name === 'default.target') {
      this.problem(-1, 'default.target cannot point to itself', 'name a target such as multi-user.target');
      return;
    }
    try {
      const fin = this.traverse(this.add(name, false, -1), false, false);
      if (fin.mode === 'masked') throw new Fail(`${fin.path ?? name} is masked`, 'other', 'remove the mask from the image');
      this.link(`${CONFIG_DIR}/default.target`, fin.path ?? '', true, -1, `default target ${fin.name}`);
    } catch (e) {
      this.fail(-1, e);
    }
  }
}

/** An Installer over VIEW with the target's systemd version and os-release, as its systemctl would run. */
export function installerFor(root: TargetRoot, view: UnitView): Installer {
  const version = systemdVersion(root);
  const osRelease = parseOsRelease(root.readText('/etc/os-release') ?? root.readText('/usr/lib/os-release') ?? '');
  return new Installer(view, unitSearchPath(root), { upheldBy: version === undefined || version >= UPHELD_BY_SINCE, osRelease });
}

/** What a step other than systemd asks of `systemctl enable` / `disable`. */
export interface InstallRequest {
  /** Step name for the actions. */
  step: string;
  enable?: readonly string[];
  disable?: readonly string[];
  /** Unit files the step writes in this same apply, by path: planning reads them as if written. */
  files?: ReadonlyMap<string, Buffer>;
}

export interface InstallResult {
  /** Links to make and links to remove. */
  actions: Action[];
  /** Problems by unit name. */
  problems: Array<{ unit: string; message: string; hint?: string }>;
  warnings: string[];
  /** Units asked for that exist nowhere in the target's unit search path. */
  missing: string[];
}

/**
 * `systemctl enable`/`disable` for units another step brings or needs (a container's
 * service, systemd-networkd, wpa_supplicant@IFACE): the same port of systemctl as the
 * systemd step's, Also=, templates, aliases and drop-ins included. A unit that does not
 * exist is reported in `missing` rather than as a problem, so the step can say what
 * to install.
 */
export function installLinks(root: TargetRoot, req: InstallRequest): InstallResult {
  const view = new UnitView(root);
  for (const [path, data] of req.files ?? []) view.set(path, { type: 'file', data });
  const inst = installerFor(root, view);
  const names = [...(req.disable ?? []), ...(req.enable ?? [])];
  const missing = (req.enable ?? []).filter((n) => !unitExists(view, n));
  const indexed = (list: readonly string[] | undefined, offset: number) => (list ?? []).flatMap((name, i) => (missing.includes(name) ? [] : [{ name, origin: offset + i }]));
  inst.disable(indexed(req.disable, 0));
  inst.enable(indexed(req.enable, (req.disable ?? []).length));
  const actions: Action[] = [];
  // A folder that still holds a planned link is not removed.
  for (const [path, why] of inst.removals) if (![...inst.links.keys()].some((l) => l === path || l.startsWith(`${path}/`))) actions.push({ kind: 'absent', path, step: req.step, why });
  for (const [path, l] of inst.links) actions.push({ kind: 'symlink', path, target: l.target, uid: 0, gid: 0, step: req.step, why: l.why });
  const problems = inst.problems.map((p) => ({ unit: names[p.origin] ?? '', message: p.message, ...(p.hint !== undefined ? { hint: p.hint } : {}) }));
  return { actions, problems, warnings: inst.warnings, missing };
}

export function unitExists(view: UnitView, name: string): boolean {
  const template = templateOf(name);
  const names = template !== undefined && template !== name ? [name, template] : [name];
  return unitSearchPath(view.root).some((d) => names.some((n) => view.entry(`${d}/${n}`).type !== 'missing'));
}
