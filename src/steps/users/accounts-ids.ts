/**
 * Id allocation exactly as shadow-utils 4.13 does it (libmisc/find_new_uid.c,
 * find_new_gid.c, find_new_sub_uids.c and lib/subordinateio.c), over the ids
 * that the target's own files hold. Pure.
 *
 * find_new_uid / find_new_gid:
 * - Ranges: UID_MIN..UID_MAX for normal accounts; SYS_UID_MIN (default 101)
 *   ..SYS_UID_MAX (default UID_MIN-1) for system accounts; same for gids.
 * - A preferred id (the new uid, for a user's own group) is taken when it is
 *   in range and unused. For system accounts the range for the preferred id
 *   starts at 1, not SYS_*_MIN.
 * - Normal accounts: one above the highest id used inside the range ("highest
 *   used + 1", so ids of deleted accounts are not reused); when that would
 *   pass the maximum, the lowest free id of the range.
 * - System accounts: one below the lowest id used inside the range (SYS_*_MAX
 *   when none is used), searching downwards; when that would drop below the
 *   minimum, the highest free id of the range.
 * - An id is "used" when any entry has it, in or out of the range.
 *   65535 and 4294967295 are never handed out.
 */

export interface IdRange { min: number; max: number }

/**
 * Whether ids holds an id. The first few questions are answered by a scan; the set is
 * made only when more come (a full range), so one new account costs no set of all ids.
 */
function usedIds(ids: readonly number[]): (id: number) => boolean {
  let asked = 0;
  let set: Set<number> | undefined;
  return (id) => {
    if (set === undefined && ++asked <= 4) return ids.includes(id);
    set ??= new Set(ids);
    return set.has(id);
  };
}

function usable(id: number, used: (id: number) => boolean): boolean {
  return id !== 65535 && id !== 4294967295 && !used(id);
}

export function findNewId(
  ids: readonly number[],
  system: boolean,
  range: IdRange,
  preferred?: number,
): number | undefined {
  const { max } = range;
  const min = system && range.min === 0 ? 1 : range.min; // 0 is reserved for root
  if (max < min) return undefined;
  const used = usedIds(ids);
  if (preferred !== undefined) {
    const preferredMin = system ? 1 : min;
    if (preferred >= preferredMin && preferred <= max && usable(preferred, used)) return preferred;
  }
  let highest = min;
  let lowest = max;
  for (const id of ids) {
    if (id <= lowest && id >= min) lowest = id - 1;
    if (id >= highest && id <= max) highest = id + 1;
  }
  if (system) {
    if (lowest < min) lowest = max;
    for (let id = lowest; id >= min; id--) if (usable(id, used)) return id;
    if (lowest !== max) for (let id = max; id >= min; id--) if (usable(id, used)) return id;
  } else {
    if (highest > max) highest = min;
    for (let id = highest; id <= max; id++) if (usable(id, used)) return id;
    if (highest !== min) for (let id = min; id <= max; id++) if (usable(id, used)) return id;
  }
  return undefined;
}

export interface SubRange { start: number; count: number }

/**
 * find_new_sub_uids(): the parameters are checked first (min > max,
 * count >= max or min + count - 1 > max is a configuration error), then
 * find_free_range() walks the ranges sorted by start and returns the low end
 * of the first hole of at least `count` ids in min..max.
 * `sorted` must already be in the order subordinate_range_cmp gives.
 */
export function findFreeSubRange(
  sorted: readonly SubRange[],
  min: number,
  max: number,
  count: number,
): number | undefined {
  return scanFreeSubRange(sorted, min, max, count).found;
}

/** Where a findFreeSubRange walk stopped: ranges before `next` hold no hole, and `low` is the low end after them. */
export interface SubRangeScan {
  found: number | undefined;
  next: number;
  low: number;
}

/**
 * findFreeSubRange, able to resume: with `from` (the state of an earlier walk of the
 * same min, max and count over a list that has since only grown at its end), the
 * ranges before from.next are not walked again; the answer is the same.
 */
export function scanFreeSubRange(
  sorted: readonly SubRange[],
  min: number,
  max: number,
  count: number,
  from?: SubRangeScan,
): SubRangeScan {
  if (min > max || count >= max || min + count - 1 > max) return { found: undefined, next: 0, low: min };
  if (count === 0) return { found: undefined, next: 0, low: min };
  let low = from?.low ?? min;
  for (let i = from?.next ?? 0; i < sorted.length; i++) {
    const r = sorted[i]!;
    const first = r.start;
    const last = first + r.count - 1;
    // Top end of the hole before this range; ids after max are not handed out.
    const high = Math.min(first, max + 1);
    if (high > low && high - low >= count) return { found: low, next: i, low };
    if (low < last + 1) low = last + 1;
    if (low > max) return { found: undefined, next: i + 1, low };
  }
  return { found: max - low + 1 >= count ? low : undefined, next: sorted.length, low };
}

/** subordinate_range_cmp(): unparsed lines sort after everything (inconsistently, see mergeSortGlibc). */
export function subRangeCmp(a: { owner: string; start: number; count: number } | null, b: { owner: string; start: number; count: number } | null): number {
  if (a === null) return 1;
  if (b === null) return -1;
  if (a.start !== b.start) return a.start < b.start ? -1 : 1;
  if (a.count !== b.count) return a.count < b.count ? -1 : 1;
  return a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0;
}
