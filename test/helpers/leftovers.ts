/** What a test checks is left behind: the host's links and a run directory's namespace files. */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { NetlinkHandle } from '../../src/os/netlink/index.ts';

/** The names of the links in this namespace, sorted. */
export const hostLinks = (): string[] =>
  NetlinkHandle.open()
    .linkList()
    .map((l) => l.name)
    .sort();

/** The namespace files under `runDir/netns` (none when it does not exist). */
export const netnsFiles = (runDir: string): string[] =>
  existsSync(join(runDir, 'netns')) ? readdirSync(join(runDir, 'netns')) : [];
