/**
 * A converted config checked as a flint config, with every finding moved to the user's
 * own file and line through the converter's translation map (see Translation in
 * config/load.ts). The converted text is still what the checks read; only where their
 * findings point changes.
 */
import { parsePath, pointerSegment } from '../config/diagnostics.js';
import type { Diagnostic, PathSeg } from '../config/diagnostics.js';
import { makeDiagnostic } from '../config/load.js';
import type { LoadedConfig, Origin, Translation } from '../config/load.js';
import { validateText } from '../config/validate.js';
import type { ValidationResult } from '../config/validate.js';

/**
 * validateText on the converted config, its loaded text carrying the translation (so
 * later diagnostics made against it, the target's plan problems, move too) and its
 * diagnostics moved to the sources.
 */
export function validateTranslated(file: string, config: Record<string, unknown>, translation: Translation): ValidationResult {
  const v = validateText(`${file} (converted)`, JSON.stringify(config, null, 2));
  v.loaded.translation = translation;
  return { ...v, diagnostics: v.diagnostics.map((d) => moveDiagnostic(v.loaded, d)) };
}

/** A diagnostic of the converted text made again at its flint path, which the translation moves. */
function moveDiagnostic(loaded: LoadedConfig, d: Diagnostic): Diagnostic {
  const start = offsetOf(loaded.text, d.line, d.column);
  return makeDiagnostic(loaded, { severity: d.severity, code: d.code, message: d.message, hint: d.hint, span: { start, end: start + d.length }, path: parsePath(d.path) });
}

function offsetOf(text: string, line: number, column: number): number {
  let offset = 0;
  for (let l = 1; l < line && offset >= 0; l++) offset = text.indexOf('\n', offset) + 1;
  return offset + column - 1;
}

/**
 * Origins by JSON pointer from origins by object: converters tag each object or list
 * they make with the source path it came from, and this walk of the finished config
 * finds the pointer each tagged one ended up at (after filtering and reordering).
 */
export function originsByPointer(config: unknown, tags: ReadonlyMap<object, PathSeg[]>, source = 0): Map<string, Origin> {
  const out = new Map<string, Origin>();
  const walk = (v: unknown, ptr: string): void => {
    if (typeof v !== 'object' || v === null) return;
    const path = tags.get(v);
    if (path !== undefined) out.set(ptr, { source, path });
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${ptr}/${i}`));
    else for (const [k, x] of Object.entries(v)) walk(x, ptr + pointerSegment(k));
  };
  walk(config, '');
  return out;
}
