#!/usr/bin/env node
// The `dnet` command of the package (package.json "bin": dist/cli/bin.js, plain Node, no loader).
// In a checkout, bin/dnet runs this build and bin/dnet.js runs the sources through tsx.
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
