/**
 * Tolerant readers for semantic checks, which run even where the schema found problems
 * and so never trust a shape, and the sink they report to.
 */
import type { PathSeg } from '../diagnostics.js';
import type { Verdict } from './problem.js';

export type Obj = Record<string, unknown>;

export interface Sink {
  error(path: PathSeg[], code: string, message: string, hint?: string, at?: 'key' | 'value'): void;
  warn(path: PathSeg[], code: string, message: string, hint?: string, at?: 'key' | 'value'): void;
  problem(path: PathSeg[], code: string, p: Verdict | null | undefined): void;
}

/** A step's checks of its sections (src/steps/<domain>/checks.ts). */
export type SectionCheck = (cfg: Obj, r: Sink) => void;

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const objs = (v: unknown): Array<[Obj, number]> => (Array.isArray(v) ? v : []).flatMap((x, i): Array<[Obj, number]> => (isObj(x) ? [[x, i]] : []));
export const strs = (v: unknown): Array<[string, number]> => (Array.isArray(v) ? v : []).flatMap((x, i): Array<[string, number]> => (typeof x === 'string' ? [[x, i]] : []));
