#!/usr/bin/env node
// The checkout's `dnet` from the TypeScript sources: registers tsx and hands over to
// src/cli/main.ts (no build step; the tests run this). The package's own `dnet` is the compiled
// dist/cli/bin.js (package.json "bin"); bin/dnet runs that build in a checkout.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
