#!/usr/bin/env node
// The `dnet` command. The project ships TypeScript sources run through tsx's loader (no
// transpile step to forget), so this launcher registers tsx and hands over to src/cli/main.ts.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
