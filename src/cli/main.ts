/**
 * `dnet` command-line entry. The daemon and the network/sandbox commands arrive with the daemon
 * (see the README's roadmap); until then `dnet` reports its version and what it can do.
 */
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const USAGE = `Usage: dnet <command>

Commands:
  version     print the version
  help        print this help

The daemon (dnet daemon) and the network and sandbox commands are not built yet.`;

export async function main(argv: string[]): Promise<number> {
  const [cmd] = argv;
  switch (cmd) {
    case 'version':
    case '--version':
      console.log(`dnet ${pkg.version}`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return 0;
    default:
      console.error(`dnet: unknown command ${JSON.stringify(cmd)}\n\n${USAGE}`);
      return 2;
  }
}
