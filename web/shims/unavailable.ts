/**
 * The node built-ins the page has no use for (files, processes, sockets): modules the
 * bundle reaches but the page's code paths never call. A call says so plainly instead of
 * failing on an undefined function.
 */
const refuse = (name: string) => (): never => {
  throw new Error(`${name} is not available in the web page (it reads no files and opens no connections)`);
};

export const readFileSync = refuse('reading files');
export const readdirSync = refuse('reading folders');
export const existsSync = (): boolean => false;
export const statSync = refuse('reading files');
export const openSync = refuse('reading files');
export const readSync = refuse('reading files');
export const closeSync = refuse('reading files');
export const open = refuse('reading files');
export const realpath = refuse('reading files');
export const mkdtemp = refuse('writing files');
export const rm = refuse('writing files');
export const tmpdir = (): string => '/tmp';

export default { readFileSync, readdirSync, existsSync, statSync, openSync, readSync, closeSync, open, realpath, mkdtemp, rm, tmpdir };
