/**
 * The self-contained executables' names, as scripts/build-sea.mjs writes them. Apart from
 * executable.ts (which reads files) so the web page can bundle the Combustion script.
 */
export type Arch = 'x86_64' | 'aarch64';

export const EXECUTABLE_NAME: Readonly<Record<Arch, string>> = { x86_64: 'flint-linux-x64', aarch64: 'flint-linux-arm64' };
