/**
 * How the CLI prints a daemon's refusal: as docker does (`Error response from daemon: <text>`),
 * then dnet's own hint where it has one. The daemon answers Docker's routes with dockerd's bare
 * text (src/daemon/api/docker-errors.ts); what to do next is the CLI's to say.
 */
import { DaemonError } from './client.ts';
import type { Io } from './output.ts';
import { TemplateError } from './template.ts';

/**
 * What to do next, for daemon answers that carry dockerd's bare text (the daemon speaks Docker's
 * words on Docker's routes; the dnet CLI adds its own hint after them).
 */
export function cliHint(err: DaemonError): string {
  if (err.status === 404 && /^network .* not found$/.test(err.message))
    return 'list the networks with dnet network ls';
  if (err.status === 403 && /^endpoint with name .* already exists in network /.test(err.message)) {
    return 'the container is connected to it already (dnet network inspect shows its endpoints)';
  }
  if (err.status === 403 && err.message.startsWith('invalid pool request: Pool overlaps')) {
    return 'choose a subnet no other network uses (dnet network inspect shows theirs)';
  }
  const busy = /^error while removing network: network (\S+) has active endpoints/.exec(err.message);
  if (err.status === 403 && busy)
    return `disconnect them first (dnet network disconnect ${busy[1]} <container>)`;
  if (err.status === 403 && / is a pre-defined network and cannot be removed$/.test(err.message)) {
    return 'remove only networks you created';
  }
  if (err.status === 403 && err.message === 'Address already in use') {
    return 'choose another address, or omit it to get the next free one';
  }
  if (
    err.status === 400 &&
    err.message.startsWith('all predefined address pools have been fully subnetted')
  ) {
    return 'give the network a --subnet, remove unused networks, or add default address pools';
  }
  return '';
}

/**
 * Prints a daemon error as docker does (with dnet's hint, if any, after it), or a --format template
 * that failed; returns the exit status.
 */
export function reportError(io: Io, err: unknown): number {
  if (err instanceof TemplateError) {
    io.err(`dnet: ${err.message}\n`);
    return 1;
  }
  if (!(err instanceof DaemonError)) throw err;
  const hint = cliHint(err);
  io.err(`Error response from daemon: ${err.message}${hint ? `: ${hint}` : ''}\n`);
  return 1;
}
