/** Injected into the page's bundle: node's global Buffer, which flint's code uses without importing it. */
export { Buffer } from './buffer.js';
