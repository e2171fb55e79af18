#!/usr/bin/env node
/** The executable: everything else is importable without side effects. */
import { main } from './main.js';
import { processOutput } from './output.js';

process.exitCode = main(process.argv.slice(2), processOutput());
