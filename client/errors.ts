import type { ErrorCode } from "../protocol/errors.js";

/** The daemon refused: its error body, with the registry's stable code to match on. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details: unknown,
  ) {
    super(message);
  }

  /** The body as the daemon sent it. */
  get body(): { code: ErrorCode; message: string; details?: unknown } {
    return this.details === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, details: this.details };
  }

  /** Is `e` an ApiError with this code? */
  static is(e: unknown, code: ErrorCode): e is ApiError {
    return e instanceof ApiError && e.code === code;
  }
}

/** The answer broke the contract (not JSON, an unknown status, or a body its schema refuses): a daemon or client bug, never the caller's. */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  constructor(
    message: string,
    readonly status: number,
    readonly issues: Array<{ path: string; message: string }> = [],
  ) {
    super(message);
  }
}
