#!/usr/bin/env node
// The package's bin: runs the compiled CLI (built by `npm install` through the `prepare` script).
import { main } from '../dist/src/cli.js';

process.exitCode = await main(process.argv.slice(2));
