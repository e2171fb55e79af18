/**
 * What a renderer cannot carry into another engine's format. A renderer reports each
 * setting it drops as a RenderLoss (a path into the flint config it rendered); the
 * driver turns it into a Loss with the line and column of that setting in the flint
 * file, and into a Diagnostic so that it prints like the validator's findings.
 */
import type { Diagnostic, PathSeg } from '../config/diagnostics.js';
import { makeDiagnostic } from '../config/load.js';
import type { LoadedConfig } from '../config/load.js';
import { spanOf } from '../config/validate.js';

/** A dropped setting as the renderer sees it: where in the (merged) config, what is lost, what to do instead. */
export interface RenderLoss {
  path: PathSeg[];
  what: string;
  workaround: string;
}

/** A dropped setting located in the flint file. */
export interface Loss {
  /** JSON path in the flint config, e.g. `users[0].sudo`. */
  path: string;
  line: number;
  col: number;
  what: string;
  workaround: string;
}

/** Collects a renderer's losses in the order it meets them. */
export class LossList {
  readonly items: RenderLoss[] = [];
  lose(path: PathSeg[], what: string, workaround: string): void {
    this.items.push({ path, what, workaround });
  }
}

/** The losses as diagnostics (warnings, code render-loss) at their place in LOADED. ORIGIN maps a merged path back to its source path. */
export function lossDiagnostics(loaded: LoadedConfig, losses: readonly RenderLoss[], origin: (p: PathSeg[]) => PathSeg[] = (p) => p): Diagnostic[] {
  return losses.map((l) => {
    const path = origin(l.path);
    return makeDiagnostic(loaded, { severity: 'warning', code: 'render-loss', message: l.what, hint: l.workaround, span: spanOf(loaded, path, 'key'), path });
  });
}

/** A diagnostic from lossDiagnostics as the plain Loss record (for --json and tests). */
export function lossOf(d: Diagnostic): Loss {
  return { path: d.path, line: d.line, col: d.column, what: d.message, workaround: d.hint ?? '' };
}

