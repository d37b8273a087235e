import { DnetError } from './base.ts';
import { plural, q } from './format.ts';

/** Errors of the controller's lifecycle: teardown, close and restore. */

/**
 * Taking something down (a leave, an endpoint's or a sandbox's removal) met failures. Every step
 * was attempted; `errors` holds each failure (an aggregate, as AggregateError), and the message
 * lists them. What may still exist keeps its record: the next start finishes the removal.
 */
export class TeardownError extends DnetError {
  readonly code = 'ERR_TEARDOWN';
  readonly kind = 'internal';
  readonly errors: readonly unknown[];
  constructor(
    readonly what: string,
    errors: readonly unknown[],
  ) {
    const listed = errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ');
    super(
      `${what}: ${plural(errors.length, 'step', 'steps')} failed (${listed}); ` +
        `what may remain is kept on record and removed again at the next start of dnet`,
      { cause: errors[0] },
    );
    this.errors = [...errors];
  }
}

/** The controller was closed: it takes no more operations. */
export class ControllerClosedError extends DnetError {
  readonly code = 'ERR_CONTROLLER_CLOSED';
  readonly kind = 'unavailable';
  constructor() {
    super('the network controller is closed: create a new one (NetworkController.create) to go on');
  }
}

/**
 * At start, the IPAM driver and the store disagree about a network's pool (the IPAM gave another
 * pool ID for the recorded subnet): the network is not restored, and its record is kept.
 */
export class RestoreConflictError extends DnetError {
  readonly code = 'ERR_RESTORE_CONFLICT';
  readonly kind = 'internal';
  constructor(
    readonly subnet: string,
    readonly recordedPoolId: string,
    readonly givenPoolId: string,
  ) {
    super(
      `the IPAM driver gave pool ${q(givenPoolId)} for ${subnet}, the store records ${q(recordedPoolId)}: ` +
        `the network is not restored; check the IPAM driver's own state (a remote IPAM that lost its pools)`,
    );
  }
}
