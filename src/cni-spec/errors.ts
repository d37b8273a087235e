/**
 * CNI's error result (SPEC.md, "Error"): a well-known code, a short message and details. The
 * plugin prints it as JSON on stdout and exits non-zero.
 */

/** The spec's well-known codes, and dnet's own (100+). */
export const CNI_ERR = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnv: 4,
  io: 5,
  decoding: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  /** STATUS: the plugin cannot service ADD requests. */
  notAvailable: 50,
  /** STATUS: ... and existing containers may have limited connectivity. */
  limitedConnectivity: 51,
  /** dnet: the daemon refused the request (its message is in `details`). */
  daemonRefused: 100,
  /** dnet: CHECK found the attachment not as it should be (what is wrong is in `details`). */
  checkFailed: 101,
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details = '',
  ) {
    super(msg);
    this.name = 'CniError';
  }

  /** The spec's JSON error object. */
  toJSON(cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
    return {
      cniVersion,
      code: this.code,
      msg: this.message,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}
