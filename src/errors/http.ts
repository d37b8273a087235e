/**
 * The one place where an error becomes an HTTP answer. Every DnetError carries a `kind`
 * (base.ts); the kind alone decides the status. The body is Docker's error body,
 * `{"message": "..."}`, which the docker CLI and dockerode print as is.
 */
import { DnetError, type ErrorKind } from './base.ts';

/** The HTTP status for each error kind. */
export const HTTP_STATUS_BY_KIND: Readonly<Record<ErrorKind, number>> = Object.freeze({
  invalid: 400,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  unavailable: 503,
  'not-implemented': 501,
  internal: 500,
});

/** Docker Engine API error body. */
export interface ErrorBody {
  message: string;
}

function isErrorKind(k: unknown): k is ErrorKind {
  return typeof k === 'string' && Object.hasOwn(HTTP_STATUS_BY_KIND, k);
}

/**
 * The HTTP status to answer for `err`: the status of its kind for a DnetError, 500 for anything
 * else (a bug, or an error no layer translated).
 */
export function httpStatus(err: unknown): number {
  if (err instanceof DnetError && isErrorKind(err.kind)) return HTTP_STATUS_BY_KIND[err.kind];
  return 500;
}

/**
 * The body to answer for `err`, Docker's `{ message }`. A DnetError's message is written for the
 * user; for other errors the message is passed on too (dockerd does the same), or a generic text
 * when there is none.
 */
export function errorBody(err: unknown): ErrorBody {
  if (err instanceof Error) return { message: err.message || err.name || 'internal error' };
  if (typeof err === 'string' && err !== '') return { message: err };
  return { message: 'internal error' };
}

/** Status and body together, for a route's error handler. */
export function errorResponse(err: unknown): { status: number; body: ErrorBody } {
  return { status: httpStatus(err), body: errorBody(err) };
}
