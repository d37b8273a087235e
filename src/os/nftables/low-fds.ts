/**
 * libnftables 1.0.x waits for the kernel's answers with select(), which cannot watch an fd number
 * of FD_SETSIZE (1024) or more: glibc then aborts the whole process ("bit out of range 0 -
 * FD_SETSIZE on fd_set"). A process serving many containers holds over a thousand fds (each
 * sandbox keeps its namespace, a netlink socket and its resolver's sockets), so a libnftables
 * context made late would get such a number for its netfilter socket.
 *
 * A few low fd numbers (on /dev/null) are held from the first context on and let go only while a
 * context is made, so its socket takes one of them; they are taken again when that is done and
 * when a context is freed. Everything here runs synchronously on the caller's thread.
 *
 * The project's own long-lived descriptors are opened at numbers ≥ 1024 already (src/os/ffi/libc.ts
 * moves them), which leaves the low numbers to Node, LMDB and libraries; the held numbers cover
 * those. They are opened with Node's fs (the lowest free number, not moved).
 */
import { closeSync, openSync } from 'node:fs';

/** glibc's FD_SETSIZE: select() cannot watch this fd number or higher. */
export const FD_SETSIZE = 1024;
/** How many low fd numbers are held for contexts (one is enough; a few allow for other opens). */
const RESERVE = 4;
const held: number[] = [];

/** Takes low fd numbers until RESERVE are held (a number at FD_SETSIZE or above is not kept). */
export function holdLowFds(): void {
  while (held.length < RESERVE) {
    const fd = openSync('/dev/null', 'r');
    if (fd >= FD_SETSIZE) {
      closeSync(fd);
      return;
    }
    held.push(fd);
  }
}

/** Runs `open` with the held numbers free (what it opens takes the lowest), then holds them again. */
export function withLowFds<T>(open: () => T): T {
  for (const fd of held.splice(0)) closeSync(fd);
  try {
    return open();
  } finally {
    holdLowFds();
  }
}

/** How many low fd numbers are held now (for tests). */
export function heldLowFds(): number {
  return held.length;
}
