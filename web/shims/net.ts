/** node:net's address tests for the page, answered by flint's own address parser. */
import { isIPv4, isIPv6 } from '../../src/config/checks/net.js';

export { isIPv4, isIPv6 };
export function isIP(s: string): number {
  return isIPv4(s) ? 4 : isIPv6(s) ? 6 : 0;
}
export default { isIP, isIPv4, isIPv6 };
