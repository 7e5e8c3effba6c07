import type { FastifyError } from "fastify";
import type { ZodError } from "zod";
import { statusOf, type ErrorBody, type ErrorCode } from "../../protocol/errors.js";
import { UmldError } from "../../core/errors.js";

/** The one place an error becomes a response: `{error: {code, message, details?}}`, never a stack. */
export function toErrorResponse(e: unknown): { status: number; body: ErrorBody } {
  let code: ErrorCode = "internal";
  let message = "internal error";
  let details: unknown;
  if (e instanceof UmldError) {
    code = e.code;
    message = e.message;
    details = e.details;
  } else if (isFastifyError(e)) {
    switch (e.code) {
      case "FST_ERR_CTP_BODY_TOO_LARGE":
        code = "payload_too_large";
        message = "request body too large";
        break;
      case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
        code = "unsupported_media_type";
        message = "request body must be application/json";
        break;
      case "FST_ERR_MAX_PARAM_LENGTH":
        code = "invalid_request";
        message = "a path segment is longer than any name umld has";
        break;
      case "FST_ERR_BAD_URL":
        code = "invalid_request";
        message = "the path is not valid URL encoding";
        break;
      case "FST_ERR_CTP_EMPTY_JSON_BODY":
      case "FST_ERR_CTP_INVALID_JSON_BODY":
      case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
        code = "invalid_request";
        message = e.message;
        break;
      default:
        if (e.statusCode === 400 || e instanceof SyntaxError) {
          code = "invalid_request";
          message = e.message;
        }
    }
  } else if (e instanceof SyntaxError) {
    code = "invalid_request";
    message = `malformed JSON: ${e.message}`;
  }
  const body: ErrorBody = { error: details === undefined ? { code, message } : { code, message, details } };
  return { status: statusOf(code), body };
}

function isFastifyError(e: unknown): e is FastifyError {
  return typeof e === "object" && e !== null && typeof (e as { code?: unknown }).code === "string" && String((e as { code: string }).code).startsWith("FST_");
}

/** zod issues as error details: where, what. */
export function validationError(where: "body" | "params" | "query", err: ZodError): UmldError {
  const issues = err.issues.map((i) => ({ path: [where, ...i.path.map(String)].join("."), message: i.message, code: i.code }));
  const first = issues[0];
  return new UmldError("invalid_request", first ? `invalid ${first.path}: ${first.message}` : `invalid ${where}`, { issues });
}
