// Errors of the runtime: API errors carry the server's Status; a
// TerminalError marks a reconcile failure that retrying cannot fix.

/** The API server's Status object (as sent on failures). */
export interface ApiStatus {
  kind?: string;
  apiVersion?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: unknown;
}

export class ApiError extends Error {
  /** HTTP status code (0 for network errors that never got one). */
  readonly code: number;
  readonly reason: string | undefined;
  readonly status: ApiStatus | undefined;

  constructor(code: number, message: string, status?: ApiStatus) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
    this.reason = status?.reason;
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof ApiError && e.code === 404;
export const isConflict = (e: unknown): boolean => e instanceof ApiError && e.code === 409;
export const isAlreadyExists = (e: unknown): boolean => isConflict(e) && (e as ApiError).reason === "AlreadyExists";
/** 410 Gone: the resourceVersion is too old; relist. */
export const isGone = (e: unknown): boolean =>
  e instanceof ApiError && (e.code === 410 || e.reason === "Expired" || e.reason === "Gone");
export const isInvalid = (e: unknown): boolean => e instanceof ApiError && e.code === 422;

/**
 * A reconcile error that retrying cannot fix (an invalid spec): the
 * controller records it (log, metric, hook) and does not requeue the key.
 * The key is reconciled again on the next change of the object.
 */
export class TerminalError extends Error {
  readonly terminal = true;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TerminalError";
  }
}
export const isTerminal = (e: unknown): e is TerminalError => e instanceof TerminalError;
