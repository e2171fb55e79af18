/**
 * Which format a config file is in, from its first bytes and its name: flint's own,
 * Ignition JSON, cloud-init NoCloud (user-data, meta-data, network-config) or a
 * Combustion script. Cheap and free of imports, so `flint validate` on a flint config
 * loads none of the converters.
 */
import { basename } from 'node:path';

export type ConfigFormat = 'flint' | 'ignition' | 'cloud-init' | 'combustion';

export function sniffFormat(file: string, text: string): ConfigFormat {
  const head = text.slice(0, 65536).replace(/^\uFEFF/, '');
  if (/^\s*\{/.test(head) && /"ignition"\s*:\s*\{/.test(head) && /"version"\s*:/.test(head) && !/^\s*\{\s*"version"\s*:\s*1\s*[,}]/.test(head)) return 'ignition';
  if (/^#cloud-config[ \t]*\r?(?:\n|$)/.test(head)) return 'cloud-init';
  const name = basename(file);
  if (name === 'user-data' || name === 'meta-data' || name === 'network-config') return 'cloud-init';
  if (/^#!/.test(head) && (/^#\s*combustion:/m.test(head) || (name === 'script' && basename(file.slice(0, -name.length - 1)) === 'combustion'))) return 'combustion';
  return 'flint';
}

export const FORMAT_NAMES: Record<ConfigFormat, string> = {
  flint: 'flint config',
  ignition: 'Ignition config',
  'cloud-init': 'cloud-init NoCloud seed',
  combustion: 'Combustion script',
};
