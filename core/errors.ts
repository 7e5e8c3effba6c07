import type { ErrorCode } from "../protocol/errors.js";

/** A domain error: a stable code from the protocol registry plus what was wrong. */
export class UmldError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "UmldError";
  }

  /** Plain object form: errors crossing a worker boundary lose their class. */
  toPlain(): PlainError {
    return { code: this.code, message: this.message, details: this.details };
  }

  static fromPlain(p: PlainError): UmldError {
    return new UmldError(p.code, p.message, p.details);
  }
}

export interface PlainError {
  code: ErrorCode;
  message: string;
  details?: unknown;
}

export function isUmldError(e: unknown): e is UmldError {
  return e instanceof UmldError;
}
