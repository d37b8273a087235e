/**
 * Plugins by name: discovery, then the activation handshake (`POST /Plugin.Activate` →
 * `{"Implements": [...]}`), once per plugin. The remote network driver and the remote IPAM driver
 * ask it for a client of a plugin that implements their subsystem.
 *
 * A name that discovery does not find is not remembered (the plugin may be installed later); a
 * plugin whose activation fails is tried again on the next lookup. One exception: a plugin that did
 * not answer at all (after the retries) is answered with the same error, at once, for a few seconds
 * (`min(5 s, retryTotalMs)`) unless its socket is replaced meanwhile (a restarted plugin makes a new
 * one): restoring many networks of a dead plugin waits for the retries once, not once per network.
 */
import { stat } from 'node:fs/promises';
import { DEFAULT_PLUGIN_TIMEOUTS, PluginClient, type PluginTimeouts } from './client.ts';
import {
  addressUrl,
  DEFAULT_PLUGIN_DIRS,
  findPlugin,
  type PluginAddress,
  type PluginDirs,
} from './discovery.ts';
import { PluginNotImplementedError, PluginUnavailableError } from './errors.ts';
import { Reply } from './reply.ts';

export interface PluginRegistryOptions {
  /** Where plugins are looked for. Absent lists: Docker's directories. */
  pluginDirs?: { sockets?: string[]; specs?: string[] };
  /** Call timeout and connection retry budget of every plugin call. */
  pluginTimeouts?: PluginTimeouts;
}

export interface ActivePlugin {
  name: string;
  /** The subsystems the plugin says it implements (`NetworkDriver`, `IpamDriver`...). */
  implements: string[];
  client: PluginClient;
}

export class PluginRegistry {
  readonly dirs: PluginDirs;
  readonly timeouts: PluginTimeouts;
  private readonly active = new Map<string, Promise<ActivePlugin | undefined>>();
  private readonly unanswered = new Map<string, { at: number; where: string; err: PluginUnavailableError }>();

  constructor(options: PluginRegistryOptions = {}) {
    this.dirs = {
      sockets: [...(options.pluginDirs?.sockets ?? DEFAULT_PLUGIN_DIRS.sockets)],
      specs: [...(options.pluginDirs?.specs ?? DEFAULT_PLUGIN_DIRS.specs)],
    };
    this.timeouts = { ...(options.pluginTimeouts ?? {}) };
  }

  /** The activated plugin of that name, or undefined when no plugin has that name. */
  get(name: string): Promise<ActivePlugin | undefined> {
    let p = this.active.get(name);
    if (!p) {
      p = this.load(name);
      this.active.set(name, p);
      const forget = () => {
        if (this.active.get(name) === p) this.active.delete(name);
      };
      p.then((a) => a === undefined && forget(), forget);
    }
    return p;
  }

  /**
   * A client of the plugin for `subsystem`. undefined: no plugin has that name; a plugin that
   * does not implement the subsystem throws PluginNotImplementedError.
   */
  async clientFor(name: string, subsystem: string): Promise<PluginClient | undefined> {
    const a = await this.get(name);
    if (!a) return undefined;
    if (!a.implements.includes(subsystem)) throw new PluginNotImplementedError(name, subsystem, a.implements);
    return a.client;
  }

  /** Drops what is known of a plugin: the next lookup discovers and activates it again. */
  forget(name: string): void {
    this.active.delete(name);
  }

  private async load(name: string): Promise<ActivePlugin | undefined> {
    const address = await findPlugin(name, this.dirs);
    if (!address) return undefined;
    const where = await identity(address);
    const memory = Math.min(5000, this.timeouts.retryTotalMs ?? DEFAULT_PLUGIN_TIMEOUTS.retryTotalMs);
    const last = this.unanswered.get(name);
    if (last && last.where === where && Date.now() - last.at < memory) throw last.err;
    this.unanswered.delete(name);
    const client = new PluginClient(address, this.timeouts);
    const method = 'Plugin.Activate';
    let reply: Record<string, unknown>;
    try {
      reply = await client.call(method, undefined);
    } catch (err) {
      if (err instanceof PluginUnavailableError) this.unanswered.set(name, { at: Date.now(), where, err });
      throw err;
    }
    const r = new Reply(name, method, reply);
    const impl = r.array('Implements');
    if (!r.has('Implements')) throw r.bad('Implements', 'is missing');
    const names = impl.map((v, i) => {
      if (typeof v !== 'string') throw r.fail(`"Implements[${i}]" is not a string`);
      return v;
    });
    return { name, implements: names, client };
  }
}

/** Where a plugin is, down to its socket file's identity (a restarted plugin makes a new socket). */
async function identity(a: PluginAddress): Promise<string> {
  if (a.kind !== 'unix') return addressUrl(a);
  try {
    const st = await stat(a.socketPath);
    return `${addressUrl(a)}#${st.ino}:${st.ctimeMs}`;
  } catch {
    return `${addressUrl(a)}#missing`;
  }
}
