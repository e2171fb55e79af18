/**
 * Help for plan and apply, apart from the commands themselves: `flint validate` and
 * `flint help` must not load the apply engine (start-up time).
 */
import { REPORT_PATH } from '../engine/report.js';

export { REPORT_PATH };

const common = `Options:
  --root DIR           the target root: a mounted image, /sysroot, any folder (required)
  --mac MAC            for hosts: matching, a MAC address of the machine (repeatable as a comma list)
  --serial SERIAL      for hosts: matching, the machine's serial number
  --machine-uuid UUID  for hosts: matching, the machine's DMI product UUID
  --ca FILE            also trust this CA certificate (PEM) for https sources
  --json               print the result as JSON
  -h, --help           show this help`;

export const planHelp = `Usage: flint plan --root DIR [options] CONFIG

Show what applying CONFIG to the target root would change, and write nothing:
each path to create or change, with a diff for text files (secrets are never shown).

${common}

Exit status: 0 plan made (whether or not anything would change), 1 the config is
invalid or does not fit the target, 2 usage error.`;

export const applyHelp = `Usage: flint apply --root DIR [options] CONFIG

Apply CONFIG to the target root, all or nothing: every path is journaled before it is
written (under var/lib/flint/ in the target) and a failure restores all of them. An
apply that was interrupted (a crash, a power cut) is rolled back by the next run before
it does anything else. A second apply of the same config changes nothing. The result
is written to ${REPORT_PATH} in the target.

${common}

Exit status: 0 applied (or nothing to do), 1 the config is invalid or does not fit the
target, or applying failed and was rolled back, 2 usage error.`;

