/**
 * node:module for the page: flint loads node:crypto (and node:https) lazily through
 * createRequire, to keep the CLI's start fast. Here that require answers with the shims.
 */
import crypto from './crypto.js';
import unavailable from './unavailable.js';

export function createRequire(_url: string): (name: string) => unknown {
  return (name: string) => (name === 'node:crypto' || name === 'crypto' ? crypto : unavailable);
}

export default { createRequire };
