/**
 * The package's version and the API versions served: a module with no imports but node:fs, so
 * the CLI can print them without loading the daemon. `../package.json` is the package root both
 * from src/ (tsx) and from dist/ (the build).
 */
import { readFileSync } from 'node:fs';

export const DNET_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** The API versions served: dockerd's range for the network API, 1.40 (Docker 19.03) to 1.48 (28.0). */
export const MIN_API_VERSION = '1.40';
export const API_VERSION = '1.48';
