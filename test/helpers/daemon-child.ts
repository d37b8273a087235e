/**
 * `dnet daemon` as a child process for the soak test: the daemon of src/daemon (no CLI), no
 * default bridge, no logs. Prints one JSON line when it serves (with what its restore did), and
 * stops gracefully on SIGTERM. argv: <runDir> <dataDir> <socket>
 */
import { startDaemon } from '../../src/daemon/daemon.ts';

const [runDir, dataDir, sock] = process.argv.slice(2);
if (!runDir || !dataDir || !sock) throw new Error('usage: daemon-child <runDir> <dataDir> <socket>');
const d = await startDaemon({
  runDir,
  dataDir,
  hosts: [`unix://${sock}`],
  log: () => {},
  defaultBridge: false,
});
console.log(JSON.stringify({ ready: true, restore: d.controller.lastRestore }));
process.once('SIGTERM', () => {
  void d.close().then(() => process.exit(0));
});
