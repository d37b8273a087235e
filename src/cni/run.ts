/** The plugin executable: runs one invocation and exits with its status (no top-level await: built as CommonJS). */
import { main } from './main.ts';

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`dnet CNI plugin: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
