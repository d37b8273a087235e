/**
 * The only libc FFI of the project (koffi). Thin, typed, fd-based wrappers: each one either
 * returns its result or throws a SyscallError carrying the operation, errno and errno name.
 * Nothing above src/os/ imports this module.
 */
import koffi from 'koffi';
import { LibraryLoadError, SyscallError } from '../../errors/index.ts';

function load(name: string): koffi.IKoffiLib {
  try {
    return koffi.load(name);
  } catch (err) {
    throw new LibraryLoadError(`cannot load ${name}: ${(err as Error).message}`, { cause: err });
  }
}

const libc = load('libc.so.6');

/** struct ethtool_value (linux/ethtool.h): a command and its one value. */
const EthtoolValue = koffi.struct('dnet_ethtool_value', { cmd: 'uint32_t', data: 'uint32_t' });
/** struct ifreq (40 bytes on 64-bit) with its union as ifr_data: a pointer to the command (named by ioctlIfreq's prototype). */
koffi.struct('dnet_ifreq_data', {
  name: koffi.array('uint8_t', 16),
  data: 'void *',
  pad: koffi.array('uint8_t', 16),
});

const c = {
  ioctlIfreq: libc.func('int ioctl(int fd, unsigned long req, dnet_ifreq_data *arg)'),
  socket: libc.func('int socket(int domain, int type, int protocol)'),
  bind: libc.func('int bind(int fd, const void *addr, uint32_t len)'),
  getsockname: libc.func('int getsockname(int fd, void *addr, _Inout_ uint32_t *len)'),
  listen: libc.func('int listen(int fd, int backlog)'),
  setsockopt: libc.func('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)'),
  sendto: libc.func(
    'intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t alen)',
  ),
  recvfrom: libc.func('intptr_t recvfrom(int fd, void *buf, size_t len, int flags, void *addr, void *alen)'),
  close: libc.func('int close(int fd)'),
  fcntl: libc.func('int fcntl(int fd, int cmd, ...)'),
  open: libc.func('int open(const char *path, int flags, ...)'),
  unshare: libc.func('int unshare(int flags)'),
  setns: libc.func('int setns(int fd, int nstype)'),
  mount: libc.func(
    'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)',
  ),
  umount2: libc.func('int umount2(const char *target, int flags)'),
  sigmask: libc.func('int pthread_sigmask(int how, const void *set, void *oldset)'),
};

export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_SCTP = 132;
export const IPV6_V6ONLY = 26;
export const SO_REUSEADDR = 2;
export const SOCK_CLOEXEC = 0o2000000;
export const SOCK_NONBLOCK = 0o4000;
export const SOL_SOCKET = 1;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_RCVTIMEO = 20;
export const SO_RCVBUFFORCE = 33;
export const SOL_NETLINK = 270;
export const NETLINK_ADD_MEMBERSHIP = 1;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
export const NETLINK_GET_STRICT_CHK = 12;
export const MSG_DONTWAIT = 0x40;
export const MSG_PEEK = 0x2;
export const MSG_TRUNC = 0x20;

export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWNET = 0x40000000;
export const MS_BIND = 4096;
export const MS_REC = 16384;
export const MS_PRIVATE = 1 << 18;
export const MS_SHARED = 1 << 20;
export const MNT_DETACH = 2;
export const O_RDONLY = 0;
export const O_CLOEXEC = 0o2000000;

export const SIOCETHTOOL = 0x8946;
export const ETHTOOL_GTXCSUM = 0x16;
export const ETHTOOL_STXCSUM = 0x17;
const IFNAMSIZ = 16;

const EINTR = 4;

function check(op: string, ret: number | bigint, detail?: string): number {
  const n = Number(ret);
  if (n < 0) throw new SyscallError(op, koffi.errno(), detail);
  return n;
}

/** socket(2). Always close-on-exec; the descriptor is ≥ HIGH_FD when the limit allows (moveFdAbove). */
export function socket(domain: number, type: number, protocol: number): number {
  return moveFdAbove(check('socket', c.socket(domain, type | SOCK_CLOEXEC, protocol)), HIGH_FD);
}

/** bind(2) with a raw sockaddr buffer. */
export function bind(fd: number, addr: Buffer): void {
  check('bind', c.bind(fd, addr, addr.length));
}

/** listen(2). */
export function listen(fd: number, backlog: number): void {
  check('listen', c.listen(fd, backlog));
}

/** getsockname(2) into a sockaddr buffer of the given size; returns the buffer. */
export function getsockname(fd: number, size: number): Buffer {
  const buf = Buffer.alloc(size);
  const len = [size];
  check('getsockname', c.getsockname(fd, buf, len));
  return buf;
}

/** setsockopt(2) with an int value. */
export function setsockoptInt(fd: number, level: number, name: number, value: number): void {
  const v = Buffer.alloc(4);
  v.writeInt32LE(value);
  check('setsockopt', c.setsockopt(fd, level, name, v, 4));
}

/** setsockopt(2) with a raw value buffer. */
export function setsockoptBuf(fd: number, level: number, name: number, value: Buffer): void {
  check('setsockopt', c.setsockopt(fd, level, name, value, value.length));
}

/** sendto(2); returns the number of bytes sent. */
export function sendto(fd: number, buf: Buffer, len: number, addr: Buffer | null): number {
  for (;;) {
    const n = Number(c.sendto(fd, buf, len, 0, addr, addr ? addr.length : 0));
    if (n >= 0) return n;
    const e = koffi.errno();
    if (e !== EINTR) throw new SyscallError('sendto', e);
  }
}

/** recvfrom(2) into buf; returns the number of bytes received (the full length with MSG_TRUNC). */
export function recv(fd: number, buf: Buffer, flags = 0): number {
  for (;;) {
    const n = Number(c.recvfrom(fd, buf, buf.length, flags, null, null));
    if (n >= 0) return n;
    const e = koffi.errno();
    if (e !== EINTR) throw new SyscallError('recvfrom', e);
  }
}

const EAGAIN = 11;

/**
 * recvfrom(2) with MSG_DONTWAIT: the number of bytes received, or -1 when nothing is queued
 * (EAGAIN). Other errors (ENOBUFS: the kernel dropped messages) throw a SyscallError.
 */
export function recvNonBlocking(fd: number, buf: Buffer): number {
  for (;;) {
    const n = Number(c.recvfrom(fd, buf, buf.length, MSG_DONTWAIT, null, null));
    if (n >= 0) return n;
    const e = koffi.errno();
    if (e === EAGAIN) return -1;
    if (e !== EINTR) throw new SyscallError('recvfrom', e);
  }
}

/** close(2). */
export function close(fd: number): void {
  check('close', c.close(fd));
}

const F_DUPFD_CLOEXEC = 1030;
/**
 * The descriptors this module opens (sockets, namespace files) are moved to numbers ≥ this: a
 * sandbox keeps a few open for its whole life, and with hundreds of sandboxes the low numbers
 * would run out, while libnftables waits on its netlink socket with select(2), whose fd_set
 * holds descriptors < 1024 only (glibc aborts the process: "bit out of range 0 - FD_SETSIZE on
 * fd_set"). Node raises RLIMIT_NOFILE to its hard limit at start, so the room is there.
 */
const HIGH_FD = 1024;

/**
 * Moves `fd` to the lowest free descriptor ≥ `min` (fcntl F_DUPFD_CLOEXEC, then close(fd)) and
 * returns it; returns `fd` unchanged when that is not possible (RLIMIT_NOFILE ≤ min, EMFILE).
 */
function moveFdAbove(fd: number, min: number): number {
  const moved = Number(c.fcntl(fd, F_DUPFD_CLOEXEC, 'int', min));
  if (moved < 0) return fd;
  c.close(fd);
  return moved;
}

/** open(2) read-only, close-on-exec (namespace files). */
export function openReadOnly(path: string): number {
  return moveFdAbove(check('open', c.open(path, O_RDONLY | O_CLOEXEC, 'int', 0), path), HIGH_FD);
}

/** unshare(2): `unshare --net` for the calling thread when flags = CLONE_NEWNET. */
export function unshare(flags: number): void {
  check('unshare', c.unshare(flags));
}

/** setns(2): move the calling thread into the namespace behind fd. */
export function setns(fd: number, nstype: number): void {
  check('setns', c.setns(fd, nstype));
}

/** mount(2). `mount --bind source target` is mount(source, target, null, MS_BIND). */
export function mount(
  source: string | null,
  target: string,
  fstype: string | null,
  flags: number,
  data: string | null = null,
): void {
  check('mount', c.mount(source, target, fstype, flags, data), target);
}

/** umount2(2). */
export function umount2(target: string, flags: number): void {
  check('umount2', c.umount2(target, flags), target);
}

const SIG_BLOCK = 0;
const SIG_SETMASK = 2;
/** A sigset_t (glibc: 1024 bits) with every signal; the kernel never blocks SIGKILL and SIGSTOP. */
const ALL_SIGNALS = Buffer.alloc(128, 0xff);

/**
 * Runs a synchronous call with every signal blocked on this thread, then restores the mask
 * (signals that came meanwhile are delivered then). For library code that does not retry a
 * system call interrupted by a signal: libnftables fails a transaction with EINTR when, say,
 * the CPU profiler's SIGPROF lands in its recvmsg().
 */
export function withSignalsBlocked<T>(fn: () => T): T {
  const old = Buffer.alloc(128);
  const rc = c.sigmask(SIG_BLOCK, ALL_SIGNALS, old) as number;
  if (rc !== 0) throw new SyscallError('pthread_sigmask', rc);
  try {
    return fn();
  } finally {
    c.sigmask(SIG_SETMASK, old, null);
  }
}

/**
 * ioctl(SIOCETHTOOL) with a struct ethtool_value (a get or set of one value, e.g.
 * ETHTOOL_GTXCSUM/ETHTOOL_STXCSUM) on interface `ifname`, through socket `fd` (its network
 * namespace is the interface's). Returns the value after the call (what a get read).
 */
export function ethtoolValue(fd: number, ifname: string, cmd: number, data = 0): number {
  const name = Buffer.alloc(IFNAMSIZ);
  if (Buffer.byteLength(ifname) >= IFNAMSIZ) throw new SyscallError('SIOCETHTOOL', 36, ifname); // ENAMETOOLONG
  name.write(ifname);
  const mem = koffi.alloc(EthtoolValue, 1);
  try {
    koffi.encode(mem, EthtoolValue, { cmd, data });
    const req = { name: [...name], data: mem, pad: new Array(16).fill(0) };
    check('ioctl SIOCETHTOOL', c.ioctlIfreq(fd, SIOCETHTOOL, req), ifname);
    return (koffi.decode(mem, EthtoolValue) as { data: number }).data;
  } finally {
    koffi.free(mem);
  }
}
