/** `node test/vm/run-ts.mjs test/vm/build-guest.ts`: builds (or finds) the cached guest image and prints where. */
import { guestImage } from './image.js';

const started = Date.now();
const image = await guestImage((line) => console.log(line));
console.log(JSON.stringify(image, null, 2));
console.log(`took ${Math.round((Date.now() - started) / 1000)} s`);
