/**
 * Interface offload settings through the ethtool ioctl (SIOCETHTOOL), in-process: no `ethtool`
 * child process. The interface is looked up in the calling thread's network namespace.
 */
import {
  AF_INET,
  close,
  ETHTOOL_GTXCSUM,
  ETHTOOL_STXCSUM,
  ethtoolValue,
  SOCK_DGRAM,
  socket,
} from './ffi/libc.ts';

function withSocket<T>(fn: (fd: number) => T): T {
  const fd = socket(AF_INET, SOCK_DGRAM, 0);
  try {
    return fn(fd);
  } finally {
    close(fd);
  }
}

/** Whether TX checksum offload is on for `ifname` (ETHTOOL_GTXCSUM). */
export function txChecksum(ifname: string): boolean {
  return withSocket((fd) => ethtoolValue(fd, ifname, ETHTOOL_GTXCSUM) !== 0);
}

/**
 * Turns TX checksum offload on or off for `ifname` (ETHTOOL_STXCSUM: every tx-checksum-* feature,
 * as `ethtool -K <ifname> tx on|off`). Throws SyscallError when the kernel refuses.
 */
export function setTxChecksum(ifname: string, on: boolean): void {
  withSocket((fd) => ethtoolValue(fd, ifname, ETHTOOL_STXCSUM, on ? 1 : 0));
}
