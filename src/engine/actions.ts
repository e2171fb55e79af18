/**
 * Actions: what a domain wants the target to look like, as plain data. Steps describe
 * the desired state of each path; the engine compares it with the target, skips what
 * is already so (that is what makes a second apply change nothing), and applies the
 * rest inside a transaction.
 */

interface Base {
  /** Absolute path in the target. */
  path: string;
  /** The step that wants it, e.g. "users". */
  step: string;
  /** Why, for people: "authorized keys of admin". */
  why: string;
}

export type Action =
  | (Base & {
      kind: 'file'; data: Buffer; mode: number; uid: number; gid: number; /** never shown in a diff */ secret?: boolean;
      /**
       * The content is being made while planning and applying go on (host keys): `data`
       * is empty until the plan's `pending` settles; the file is written in any case.
       */
      later?: boolean;
    })
  | (Base & { kind: 'dir'; mode: number; uid: number; gid: number })
  | (Base & { kind: 'symlink'; target: string; uid: number; gid: number })
  | (Base & { kind: 'hardlink'; target: string })
  /** Nothing may be at the path (e.g. a host key the image shipped and no longer may). */
  | (Base & { kind: 'absent' });

export type ActionKind = Action['kind'];

/** An action compared with the target: what applying it changes. */
export interface PlannedAction {
  action: Action;
  change: 'create' | 'change';
  /** What differs, for people: "mode 0644 -> 0600", "content". */
  details: string[];
  /** Previous text of a text file, for the diff (undefined for secrets and binary data). */
  before?: string;
}

export function modeString(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}
