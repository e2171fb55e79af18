// Content builder for users[].sudo: one /etc/sudoers.d/ file per user. Pure:
// the caller writes it (mode 0440, owner root, as visudo expects) and may check
// it with `visudo -c -f FILE` when the target has visudo.

export const SUDOERS_DIR = '/etc/sudoers.d';
export const SUDOERS_DROPIN_MODE = 0o440;

/**
 * Names sudoers reads as something other than a user name: an alias
 * (uppercase letters, digits and _, starting with a letter; this includes the
 * keyword ALL, which matches every user) and the words that start a
 * Defaults or alias definition line.
 */
const ALIAS_SHAPED = /^[A-Z][A-Z0-9_]*$/;
const LINE_KEYWORDS = new Set(['Defaults', 'User_Alias', 'Runas_Alias', 'Host_Alias', 'Cmnd_Alias', 'Cmd_Alias']);
/**
 * Characters of a user name sudoers reads literally: no blanks, quotes,
 * backslashes, commas, colons, =, !, (), or a leading #, %, + or @ (uid,
 * group, netgroup, include), and no leading - (which tools read as an option).
 * A trailing $ is allowed for machine accounts.
 */
const SAFE_NAME = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/;

/**
 * /etc/sudoers.d/ drop-in for a user: `password` -> "NAME ALL=(ALL:ALL) ALL",
 * `nopasswd` -> "NAME ALL=(ALL:ALL) NOPASSWD: ALL", `none` or absent ->
 * undefined. The file is named flint-NAME with each '.' written as %2E, because
 * sudo skips files in sudoers.d whose names contain '.' or end in '~'; '%' is
 * not allowed in a name, so two users never share a file. Throws for a name
 * sudoers would read as anything but that user, and for an unknown sudo value.
 */
export function sudoersDropin(user: string, sudo: string | undefined | null): { path: string; text: string } | undefined {
  if (sudo === undefined || sudo === null || sudo === 'none') return undefined;
  const rule = sudo === 'password' ? 'ALL' : sudo === 'nopasswd' ? 'NOPASSWD: ALL' : undefined;
  if (rule === undefined) throw new Error(`users[].sudo must be none, password or nopasswd, not ${JSON.stringify(sudo)}`);
  checkUserName(user);
  return {
    path: `${SUDOERS_DIR}/flint-${user.replaceAll('.', '%2E')}`,
    text: `# Written by flint, the first-boot provisioner: users[].sudo: ${sudo} for ${user}.\n${user} ALL=(ALL:ALL) ${rule}\n`,
  };
}

function checkUserName(user: string): void {
  if (!SAFE_NAME.test(user)) {
    throw new Error(`cannot write a sudoers rule for the user name ${JSON.stringify(user)}: sudoers would not read it as a plain user name (use letters, digits, '_', '.', '-', and an optional final '$')`);
  }
  if (ALIAS_SHAPED.test(user)) {
    throw new Error(`cannot write a sudoers rule for the user name ${JSON.stringify(user)}: sudoers reads all-uppercase names as an alias${user === 'ALL' ? ' (ALL would mean every user)' : ''}`);
  }
  if (LINE_KEYWORDS.has(user)) throw new Error(`cannot write a sudoers rule for the user name ${JSON.stringify(user)}: sudoers reads it as a keyword`);
}
