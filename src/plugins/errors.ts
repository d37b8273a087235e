import { DnetError } from '../errors/base.ts';

/**
 * Errors of Docker plugins (remote network drivers and IPAM drivers). Every one names the plugin
 * and, for calls, the method (`NetworkDriver.Join`), so a failure says which plugin did what.
 *
 * Kinds: a plugin that does not answer is `unavailable` (503, a dependency is down); a plugin that
 * answers with an error, or with a reply dnet cannot use, is `internal` (500), as dockerd answers
 * for a failing plugin; a name that is a plugin but not of the wanted kind is `not-found` (404),
 * like an unknown driver (NetworkTypeError).
 */

function q(s: string): string {
  return JSON.stringify(s);
}

/**
 * The plugin did not answer: nothing listens on its socket (after the retries), the connection
 * dropped before a reply (the plugin died mid-call), or no reply came within the call timeout.
 */
export class PluginUnavailableError extends DnetError {
  readonly code = 'ERR_PLUGIN_UNAVAILABLE';
  readonly kind = 'unavailable';
  constructor(
    readonly plugin: string,
    readonly method: string,
    readonly address: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `plugin ${q(plugin)} did not answer ${method} at ${address}: ${reason}; ` +
        `check that the plugin is running (and restart it), then retry`,
      options,
    );
  }
}

/** The plugin answered the call with an error: a non-200 status, or an `Err`/`Error` in its reply. */
export class PluginCallError extends DnetError {
  readonly code = 'ERR_PLUGIN_FAILED';
  readonly kind = 'internal';
  constructor(
    readonly plugin: string,
    readonly method: string,
    /** The HTTP status of the reply (200 when the error came in the body of a 200 reply). */
    readonly status: number,
    /** What the plugin said. */
    readonly pluginMessage: string,
  ) {
    super(
      `plugin ${q(plugin)} failed ${method}${status !== 200 ? ` (HTTP ${status})` : ''}: ${pluginMessage}`,
    );
  }

  /** The plugin does not implement the method (HTTP 404). */
  get notImplemented(): boolean {
    return this.status === 404;
  }
}

/**
 * The plugin answered, but dnet cannot use the reply: not JSON, a field of the wrong type, an
 * address or CIDR that does not parse, an invalid interface name, an interface field set twice...
 * Whatever the call did in the plugin has been undone with the reverse call where there is one
 * (`rollback` says how that went).
 */
export class PluginReplyError extends DnetError {
  readonly code = 'ERR_PLUGIN_BAD_REPLY';
  readonly kind = 'internal';
  /** How the call was undone in the plugin, when it was: `rolled back with ...` or why not. */
  rollback: string | undefined;
  constructor(
    readonly plugin: string,
    readonly method: string,
    readonly reason: string,
  ) {
    super(`plugin ${q(plugin)} sent an invalid reply to ${method}: ${reason}`);
  }

  /** Appends how the call was undone to the message. */
  rolledBack(how: string): this {
    this.rollback = how;
    this.message = `${this.message}; ${how}`;
    return this;
  }
}

/** A plugin spec file (`<name>.spec`, `<name>.json`) cannot be read or says something unusable. */
export class PluginSpecError extends DnetError {
  readonly code = 'ERR_PLUGIN_BAD_SPEC';
  readonly kind = 'internal';
  constructor(
    readonly plugin: string,
    readonly file: string,
    readonly reason: string,
  ) {
    super(
      `plugin ${q(plugin)}: spec file ${file} is unusable: ${reason}; fix it (one unix:// or tcp:// URL ` +
        `in a .spec file, {"Addr": ..., "TLSConfig": ...} in a .json file) or remove it`,
    );
  }
}

/** The plugin was found and activated, but it does not implement what was asked (`NetworkDriver`, `IpamDriver`). */
export class PluginNotImplementedError extends DnetError {
  readonly code = 'ERR_PLUGIN_NOT_IMPLEMENTED';
  readonly kind = 'not-found';
  constructor(
    readonly plugin: string,
    readonly subsystem: string,
    readonly implementsList: readonly string[],
  ) {
    super(
      `plugin ${q(plugin)} does not implement ${subsystem} (it implements ${
        implementsList.length > 0 ? implementsList.join(', ') : 'nothing'
      }): use a plugin that does`,
    );
  }
}
