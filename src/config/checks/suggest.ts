/**
 * Edit distance with adjacent transpositions (optimal string alignment), so a
 * swapped pair of letters ("hsotname") costs 1 like any other typo.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => d[i]?.[j] ?? 0;
  for (let i = 1; i < rows; i++) {
    const row = d[i] as number[];
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, at(i - 2, j - 2) + 1);
      }
      row[j] = best;
    }
  }
  return at(a.length, b.length);
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
