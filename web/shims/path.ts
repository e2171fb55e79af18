/** node:path (POSIX) for the page: the config's "folder" is a name only, nothing is read there. */
export const sep = '/';

function normalise(parts: string[], absolute: boolean): string {
  const out: string[] = [];
  for (const p of parts) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!absolute) out.push('..');
    } else out.push(p);
  }
  const s = out.join('/');
  return absolute ? `/${s}` : s || '.';
}

export function isAbsolute(p: string): boolean {
  return p.startsWith('/');
}
export function join(...ps: string[]): string {
  const joined = ps.filter((p) => p !== '').join('/');
  return joined === '' ? '.' : normalise(joined.split('/'), isAbsolute(joined));
}
export function resolve(...ps: string[]): string {
  let acc = '';
  for (const p of ps) acc = isAbsolute(p) ? p : `${acc}/${p}`;
  return normalise(('/web/' + acc).split('/').slice(isAbsolute(acc) ? 2 : 0), true);
}
export function dirname(p: string): string {
  const i = p.replace(/\/+$/, '').lastIndexOf('/');
  return i < 0 ? '.' : i === 0 ? '/' : p.slice(0, i);
}
export function basename(p: string, ext?: string): string {
  const b = p.replace(/\/+$/, '').split('/').pop() ?? '';
  return ext !== undefined && b.endsWith(ext) ? b.slice(0, -ext.length) : b;
}
export function relative(from: string, to: string): string {
  const f = resolve(from).split('/').filter(Boolean);
  const t = resolve(to).split('/').filter(Boolean);
  let i = 0;
  while (i < f.length && f[i] === t[i]) i++;
  return [...f.slice(i).map(() => '..'), ...t.slice(i)].join('/');
}
export const posix = { sep, isAbsolute, join, resolve, dirname, basename, relative };
export default posix;
