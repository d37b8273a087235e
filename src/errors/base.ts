/**
 * One base class for every error libnetwork throws. Each subclass has a fixed `name`, a stable
 * literal `code` (never parse messages: match on `code` or `instanceof`) and a `kind` that the
 * daemon maps to an HTTP status in one place (src/errors/http.ts).
 */
export type ErrorKind =
  | 'invalid' // the caller's input is wrong: 400
  | 'forbidden' // the operation is never allowed on this object: 403
  | 'not-found' // 404
  | 'conflict' // the object's state forbids it now (exists, in use): 409
  | 'unavailable' // a dependency (plugin, store) did not answer: 503
  | 'not-implemented' // a part of Docker's API dnet does not serve, or a kernel feature this host lacks: 501
  | 'internal'; // a bug or a kernel failure: 500

export abstract class DnetError extends Error {
  abstract readonly code: string;
  abstract readonly kind: ErrorKind;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }

  toJSON(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}
