/** A unified diff of two texts, for `flint plan`. Small files only: account files, units, keyfiles. */

const MAX_LINES = 4000;
const CONTEXT = 2;

export function unifiedDiff(path: string, before: string, after: string): string[] {
  const a = before.split('\n');
  const b = after.split('\n');
  if (a.length > MAX_LINES || b.length > MAX_LINES) return [`(${a.length} -> ${b.length} lines; too long to show)`];
  const ops = lineOps(a, b);
  const out = [`--- a${path}`, `+++ b${path}`];
  // Group the edit script into hunks with CONTEXT lines around each change.
  let i = 0;
  while (i < ops.length) {
    if (ops[i]!.op === ' ') {
      i++;
      continue;
    }
    const start = Math.max(0, i - CONTEXT);
    let end = i;
    while (end < ops.length) {
      if (ops[end]!.op !== ' ') {
        end++;
        continue;
      }
      let run = 0;
      while (end + run < ops.length && ops[end + run]!.op === ' ') run++;
      if (run > CONTEXT * 2 || end + run === ops.length) {
        end = Math.min(ops.length, end + CONTEXT);
        break;
      }
      end += run;
    }
    const hunk = ops.slice(start, end);
    const aStart = (hunk[0]?.ai ?? 0) + 1;
    const bStart = (hunk[0]?.bi ?? 0) + 1;
    const aLen = hunk.filter((o) => o.op !== '+').length;
    const bLen = hunk.filter((o) => o.op !== '-').length;
    out.push(`@@ -${aStart},${aLen} +${bStart},${bLen} @@`);
    for (const o of hunk) out.push(`${o.op}${o.text}`);
    i = end;
  }
  return out;
}

interface Op {
  op: ' ' | '-' | '+';
  text: string;
  ai: number;
  bi: number;
}

/** Longest-common-subsequence edit script; files here are small, so O(n*m) is fine. */
function lineOps(a: string[], b: string[]): Op[] {
  // Trim the common head and tail first: most edits append or change a few lines.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const am = a.slice(head, a.length - tail);
  const bm = b.slice(head, b.length - tail);
  const n = am.length;
  const m = bm.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = am[i] === bm[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: Op[] = [];
  for (let k = 0; k < head; k++) ops.push({ op: ' ', text: a[k]!, ai: k, bi: k });
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && am[i] === bm[j]) {
      ops.push({ op: ' ', text: am[i]!, ai: head + i, bi: head + j });
      i++;
      j++;
    } else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      // Deletions before insertions, as diff(1) prints them.
      ops.push({ op: '-', text: am[i]!, ai: head + i, bi: head + j });
      i++;
    } else {
      ops.push({ op: '+', text: bm[j]!, ai: head + i, bi: head + j });
      j++;
    }
  }
  for (let k = 0; k < tail; k++) ops.push({ op: ' ', text: a[a.length - tail + k]!, ai: a.length - tail + k, bi: b.length - tail + k });
  return ops;
}
