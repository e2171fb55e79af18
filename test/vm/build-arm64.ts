/** `node test/vm/run-ts.mjs test/vm/build-arm64.ts`: builds (or finds) the cached arm64 image and prints where. */
import { aarch64Support } from '../helpers/host.js';
import { arm64Image } from './guest-arm64.js';

const can = aarch64Support();
if (!can.ok) throw new Error(`cannot run arm64 programs here: ${can.reason}`);
const started = Date.now();
console.log(JSON.stringify(await arm64Image((line) => console.log(line)), null, 2));
console.log(`took ${Math.round((Date.now() - started) / 1000)} s`);
