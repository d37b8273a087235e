/**
 * koffi bindings for libnftables.so.1 (the library behind the `nft` CLI). Loaded lazily, on the
 * first context created, so a process that never touches nftables never needs the library.
 *
 * What a context is bound to (checked against the nftables 1.0.x sources and by the kernel
 * tests): nft_ctx_new() opens its NETLINK_NETFILTER socket right away (since 0.9.9 it is never
 * reopened), and a netlink socket stays bound to the network namespace it was opened in. So a
 * context created inside a namespace operates on that namespace's ruleset for its whole life,
 * whatever namespace the calling thread is in later. One thing is NOT bound to the context:
 * to resolve interface names to indexes (`meta iif "eth0"`), libnftables opens a fresh
 * rtnetlink socket during the command, in the thread's CURRENT namespace (a context of
 * namespace A run from namespace B fails with "Interface does not exist" for A's interfaces).
 * The caller (src/os/nftables/apply.ts) therefore also runs each command inside the namespace.
 *
 * A context also caches the ruleset it has seen (refreshed when the kernel's generation id
 * changes) and keeps the output/error buffers: it is not thread-safe, which does not matter
 * on JavaScript's one thread.
 */
import koffi from 'koffi';
import { LibraryLoadError } from '../../errors/index.ts';
import { withSignalsBlocked } from './libc.ts';

export const NFT_CTX_DEFAULT = 0;
export const NFT_CTX_OUTPUT_HANDLE = 1 << 3;
export const NFT_CTX_OUTPUT_JSON = 1 << 4;
export const NFT_CTX_OUTPUT_ECHO = 1 << 5;

const LIB = 'libnftables.so.1';

interface Fns {
  ctxNew: koffi.KoffiFunction;
  ctxFree: koffi.KoffiFunction;
  setFlags: koffi.KoffiFunction;
  bufferOutput: koffi.KoffiFunction;
  bufferError: koffi.KoffiFunction;
  getOutput: koffi.KoffiFunction;
  getError: koffi.KoffiFunction;
  run: koffi.KoffiFunction;
}

let fns: Fns | undefined;

function lib(): Fns {
  if (fns) return fns;
  let l: koffi.IKoffiLib;
  try {
    l = koffi.load(LIB);
  } catch (err) {
    throw new LibraryLoadError(
      `cannot load ${LIB} (${(err as Error).message}): install it with \`apt install libnftables1\``,
      { cause: err },
    );
  }
  // The context is an opaque pointer: koffi hands it back as an external we only pass along.
  const ctx = koffi.pointer('nft_ctx', koffi.opaque());
  fns = {
    ctxNew: l.func('nft_ctx_new', ctx, ['uint32_t']),
    ctxFree: l.func('nft_ctx_free', 'void', [ctx]),
    setFlags: l.func('nft_ctx_output_set_flags', 'void', [ctx, 'unsigned int']),
    bufferOutput: l.func('nft_ctx_buffer_output', 'int', [ctx]),
    bufferError: l.func('nft_ctx_buffer_error', 'int', [ctx]),
    // Both buffers belong to the context, are NUL-terminated and rewound by the getter: koffi
    // copies them into JS strings before the next call can overwrite them.
    getOutput: l.func('nft_ctx_get_output_buffer', 'const char *', [ctx]),
    getError: l.func('nft_ctx_get_error_buffer', 'const char *', [ctx]),
    run: l.func('nft_run_cmd_from_buffer', 'int', [ctx, 'const char *']),
  };
  return fns;
}

/** An opaque `struct nft_ctx *`. */
export type NftCtxPtr = { readonly __brand: 'nft_ctx' };

/**
 * nft_ctx_new(NFT_CTX_DEFAULT) with buffered output and error and the given output flags.
 * The netfilter socket is opened now, in the calling thread's current network namespace.
 */
export function nftCtxNew(outputFlags: number): NftCtxPtr {
  const f = lib();
  const ctx = f.ctxNew(NFT_CTX_DEFAULT) as NftCtxPtr | null;
  // When the socket cannot be opened, libnftables 1.0.x prints an error and exit()s the whole
  // process (netlink_init_error); NULL only comes from allocation failure.
  if (!ctx) throw new LibraryLoadError('nft_ctx_new returned NULL');
  if (f.bufferOutput(ctx) !== 0 || f.bufferError(ctx) !== 0) {
    f.ctxFree(ctx);
    throw new LibraryLoadError('nft_ctx_buffer_output/error failed');
  }
  f.setFlags(ctx, outputFlags);
  return ctx;
}

/** nft_ctx_output_set_flags: the output flags of the next commands. */
export function nftSetOutputFlags(ctx: NftCtxPtr, flags: number): void {
  lib().setFlags(ctx, flags);
}

/** nft_ctx_free: closes the context's netfilter socket and frees its caches. */
export function nftCtxFree(ctx: NftCtxPtr): void {
  lib().ctxFree(ctx);
}

/**
 * nft_run_cmd_from_buffer. Input is auto-detected (JSON when it parses as JSON, given the
 * JSON output flag). Returns the return code and the buffered output and error texts.
 */
export function nftRun(ctx: NftCtxPtr, buf: string): { rc: number; out: string; err: string } {
  const f = lib();
  // Signals blocked: libnftables does not retry a recvmsg() interrupted by one (EINTR).
  const rc = withSignalsBlocked(() => f.run(ctx, buf) as number);
  const out = (f.getOutput(ctx) as string | null) ?? '';
  const err = (f.getError(ctx) as string | null) ?? '';
  return { rc, out, err };
}
