/**
 * The controller's sandboxes, one per container: made on first join or on request, restored from
 * their records at start, released or destroyed.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SandboxModeError } from '../errors/endpoint.ts';
import { SyscallError } from '../errors/index.ts';
import { newId } from '../errors/validate.ts';
import { deleteNetns } from '../os/netns/index.ts';
import { OsSandbox } from '../os/sandbox.ts';
import { restoredTime } from '../timestamp.ts';
import type { SandboxRecord } from './persist.ts';
import { Sandbox } from './sandbox.ts';
import type { SandboxDns } from './sandbox-dns.ts';
import type { JoinOptions } from './types.ts';

/** The external namespace at `path` when it is still the one of inode `inode`, else undefined. */
function attachIfSame(path: string, inode: number): OsSandbox | undefined {
  if (!existsSync(path)) return undefined;
  let os: OsSandbox;
  try {
    os = OsSandbox.attach(path);
  } catch {
    return undefined; // not a namespace any more (an unmounted file)
  }
  if (os.inode === inode) return os;
  os.release();
  return undefined;
}

/** The controller's sandboxes, one per container. */
export class SandboxSet {
  private readonly byContainer = new Map<string, Sandbox>();
  /** By container name (the first sandbox made with a name keeps it). */
  private readonly named = new Map<string, Sandbox>();

  constructor(
    private readonly runDir: string,
    private readonly hostResolvConf: string,
    private readonly dns: SandboxDns = { resolver: undefined },
  ) {}

  get(containerId: string): Sandbox | undefined {
    return this.byContainer.get(containerId);
  }

  all(): Sandbox[] {
    return [...this.byContainer.values()];
  }

  byName(name: string): Sandbox | undefined {
    return this.named.get(name);
  }

  private add(sb: Sandbox): void {
    this.byContainer.set(sb.containerId, sb);
    const name = sb.name;
    if (name !== undefined && !this.named.has(name)) this.named.set(name, sb);
  }

  private remove(sb: Sandbox): void {
    if (this.byContainer.get(sb.containerId) === sb) this.byContainer.delete(sb.containerId);
    const name = sb.name;
    if (name !== undefined && this.named.get(name) === sb) this.named.delete(name);
  }

  /**
   * The container's sandbox, created (namespace with loopback up, or the host's) on its first
   * join. A container cannot mix the host's namespace with a namespace of its own.
   */
  async getOrCreate(
    containerId: string,
    host: boolean,
    options: JoinOptions,
    explicit = false,
    /** Attach this existing namespace (by path) instead of making one (see OsSandbox.attach). */
    externalNetns?: string,
  ): Promise<{ sandbox: Sandbox; created: boolean }> {
    const have = this.byContainer.get(containerId);
    if (have) {
      if (have.isHost !== host) throw new SandboxModeError(containerId, have.isHost);
      return { sandbox: have, created: false };
    }
    const id = newId();
    const dir = join(this.runDir, 'sandboxes', id);
    const os = host
      ? OsSandbox.host(this.runDir)
      : externalNetns !== undefined
        ? OsSandbox.attach(externalNetns)
        : await OsSandbox.createOffLoop(id.slice(0, 12), this.runDir);
    const sb = new Sandbox(
      id,
      containerId,
      os,
      { ...options },
      options.hostsPath ?? join(dir, 'hosts'),
      options.resolvConfPath ?? join(dir, 'resolv.conf'),
      dir,
      this.hostResolvConf,
      explicit,
      this.dns,
    );
    this.add(sb);
    if (explicit) {
      try {
        await sb.writeFiles();
      } catch (err) {
        await this.destroy(sb);
        throw err;
      }
    }
    return { sandbox: sb, created: true };
  }

  /**
   * Restore: the sandbox of a record, its namespace adopted when it still exists (a daemon
   * restart) or made again at the same path (after a reboot). An external namespace is adopted
   * when the same namespace is still at its path; otherwise (its owner deleted it, a reboot)
   * the sandbox is not restored: undefined.
   */
  restore(rec: SandboxRecord): Sandbox | undefined {
    let os: OsSandbox;
    if (rec.isHost) os = OsSandbox.host(this.runDir);
    else if (rec.externalNetns) {
      const adopted = attachIfSame(rec.key, rec.externalNetns.inode);
      if (!adopted) return undefined;
      os = adopted;
    } else {
      let adopted: OsSandbox | undefined;
      if (existsSync(rec.key)) {
        try {
          adopted = OsSandbox.open(rec.key);
        } catch (err) {
          // A file that is not a namespace (a crash between creating the file and mounting it,
          // or between unmounting and removing it): remove it and make the namespace again.
          if (!(err instanceof SyscallError && err.errnoName === 'EINVAL')) throw err;
          deleteNetns(rec.key);
        }
      }
      os = adopted ?? OsSandbox.create(basename(rec.key), dirname(dirname(rec.key)));
    }
    // Older versions named the directory apart from the sandbox's ID: where the default hosts file
    // is, is the directory.
    const dir = rec.options.hostsPath ? join(this.runDir, 'sandboxes', rec.id) : dirname(rec.hostsPath);
    const sb = new Sandbox(
      rec.id,
      rec.containerId,
      os,
      { ...rec.options, ...(rec.name !== undefined ? { containerName: rec.name } : {}) },
      rec.hostsPath,
      rec.resolvConfPath,
      dir,
      this.hostResolvConf,
      rec.explicit,
      this.dns,
    );
    if (rec.created) sb.createdAt = restoredTime(rec.created);
    sb.adoptFiles();
    this.add(sb);
    return sb;
  }

  /** Removes the sandbox: its files, its namespace (unless it is the host's). */
  async destroy(sb: Sandbox): Promise<void> {
    this.remove(sb);
    sb.dropDns();
    try {
      sb.os.destroy();
    } finally {
      await sb.removeFiles();
    }
  }

  /**
   * Removes the sandbox but leaves its namespace to the caller's reclaim entry (reclaim.ts): its
   * files go and its handles are closed; the namespace's path is returned. A sandbox whose
   * namespace dnet does not remove (the host's, an external one) is destroyed as usual: undefined.
   */
  async release(sb: Sandbox): Promise<string | undefined> {
    if (!sb.reclaimable) {
      await this.destroy(sb);
      return undefined;
    }
    this.remove(sb);
    try {
      sb.os.release();
    } finally {
      await sb.removeFiles();
    }
    return sb.os.path;
  }

  /** Closes every sandbox's handles, leaving the namespaces in place. */
  releaseAll(): void {
    for (const sb of this.byContainer.values()) sb.os.release();
    this.byContainer.clear();
    this.named.clear();
  }
}
