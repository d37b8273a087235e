#!/usr/bin/env node
// The CNI plugin of type `dnet` (`dnet cni install` writes a launcher that runs this file). Like
// bin/dnet.js it runs the TypeScript sources through tsx's loader; it imports only src/cni/ and
// the small HTTP client, never the daemon.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cni/main.ts');
process.exitCode = await main();
