/**
 * Edit distance with adjacent transpositions (optimal string alignment), so a
 * swapped pair of letters ("hsotname") costs 1 like any other typo.
 */
export function editDistance(a: string, b: string): number {
  // Three rolling rows instead of a matrix: this runs for every key of every config
  // (secret-key detection), cold, at start-up.
  let prev2 = new Int32Array(b.length + 1);
  let prev = new Int32Array(b.length + 1);
  let cur = new Int32Array(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      let best = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a.charCodeAt(i - 1) === b.charCodeAt(j - 2) && a.charCodeAt(i - 2) === b.charCodeAt(j - 1)) {
        best = Math.min(best, prev2[j - 2]! + 1);
      }
      cur[j] = best;
    }
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[b.length]!;
}

/**
 * `sshAuthorizedKeys`, `ssh-authorized-keys` and `SSH_AUTHORIZED_KEYS` all
 * become `ssh_authorized_keys`: people carry key styles over from other tools.
 */
export function toSnakeCase(s: string): string {
  return s
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
    .replace(/[-\s]+/g, '_')
    .toLowerCase();
}

/** Distance that forgives differences of case and of key style before counting typos. */
function looseDistance(word: string, candidate: string): number {
  const lower = candidate.toLowerCase();
  return Math.min(
    editDistance(word, candidate),
    editDistance(word.toLowerCase(), lower),
    editDistance(toSnakeCase(word), toSnakeCase(candidate)),
  );
}

/**
 * The candidate closest to `word`, or undefined when none is close enough to
 * be a plausible typo: a third of the word's length (at least 1) by default,
 * so short words only match near misses. Ties go to the longer shared start,
 * then to the earlier candidate.
 */
export function nearest(word: string, candidates: readonly string[], max?: number): string | undefined {
  const limit = max ?? Math.max(1, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    // No edit script shorter than the length difference exists; most candidates stop here.
    if (Math.abs(candidate.length - word.length) > limit + 2) continue;
    const distance = looseDistance(word, candidate);
    // On a tie, the candidate that shares the longer start wins: "nopassword" means
    // "nopasswd" more often than "password".
    if (distance < bestDistance || (distance === bestDistance && best !== undefined && commonPrefix(word, candidate) > commonPrefix(word, best))) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i]!.toLowerCase() === b[i]!.toLowerCase()) i++;
  return i;
}
