/*
 * One error type for everything the wire layer sees: REST error envelopes, jsforce
 * HttpApiError, @salesforce/core SfError, undici/fetch network failures, timeouts.
 *
 * `transient` is a fact about the protocol (the same request may succeed later:
 * 5xx, 429, 420, connection reset/refused, timeouts, concurrency limits). Whether and
 * how often to retry is the caller's business. `quota` marks an exhausted allocation
 * (REQUEST_LIMIT_EXCEEDED "TotalRequests", ExceededQuota): not transient on a retry
 * time scale. Messages never carry an access token or an Authorization header.
 */

export type ApiErrorInit = {
  status?: number;
  errorCode: string;
  transient?: boolean;
  quota?: boolean;
  fields?: string[];
  cause?: unknown;
};

export class SalesforceApiError extends Error {
  /** HTTP status, when the error came from an HTTP answer. */
  public readonly status?: number;
  /** Salesforce errorCode (NOT_FOUND, INVALID_SESSION_ID, …) or a network code (ECONNRESET, …). */
  public readonly errorCode: string;
  /** The same request may succeed if sent again later. */
  public readonly transient: boolean;
  /** An allocation is exhausted (daily API requests, bulk quota). Never transient. */
  public readonly quota: boolean;
  /** `fields` of the REST error envelope, if any. */
  public readonly fields?: string[];

  public constructor(message: string, init: ApiErrorInit) {
    super(redactSecrets(message), init.cause !== undefined ? { cause: init.cause } : undefined);
    this.name = 'SalesforceApiError';
    if (init.status !== undefined) this.status = init.status;
    this.errorCode = init.errorCode;
    this.quota = init.quota ?? isQuotaError(init.errorCode, message);
    this.transient = this.quota ? false : (init.transient ?? isTransient(init.status, init.errorCode, message));
    if (init.fields && init.fields.length > 0) this.fields = init.fields;
  }
}

/** Network error codes (Node, undici) after which the request can be sent again. */
export const TRANSIENT_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETDOWN',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'REQUEST_TIMEOUT',
]);

/** REST errorCodes that mean "the platform is busy, try again" whatever the status. */
const TRANSIENT_API_CODES: ReadonlySet<string> = new Set(['SERVER_UNAVAILABLE', 'API_TEMPORARILY_UNAVAILABLE', 'UNABLE_TO_LOCK_ROW']);

function isQuotaError(errorCode: string, message: string): boolean {
  const code = errorCode.toUpperCase();
  if (code === 'EXCEEDEDQUOTA') return true;
  // REQUEST_LIMIT_EXCEEDED covers both the daily allocation ("TotalRequests Limit exceeded.")
  // and concurrency limits ("ConcurrentPerOrgLongTxn Limit exceeded"); only the former is a quota.
  return code === 'REQUEST_LIMIT_EXCEEDED' && !/concurrent/i.test(message);
}

function isTransient(status: number | undefined, errorCode: string, message: string): boolean {
  const code = errorCode.toUpperCase();
  if (code === 'INVALID_SESSION_ID' || status === 401) return false;
  if (status !== undefined) {
    if (status === 420 || status === 429) return true;
    if (status >= 500 && status !== 501 && status !== 505) return true;
  }
  if (TRANSIENT_NETWORK_CODES.has(code)) return true;
  if (TRANSIENT_API_CODES.has(code)) return true;
  if (code === 'REQUEST_LIMIT_EXCEEDED' && /concurrent/i.test(message)) return true;
  return false;
}

/** Remove anything that looks like a bearer token or a Salesforce session id from text. */
export function redactSecrets(text: string): string {
  return text
    .replace(/(Bearer\s+)[^\s"',;]+/gi, '$1[redacted]')
    .replace(/\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._-]+/g, '[redacted]')
    .replace(/((?:authorization|access_token|sid)["']?\s*[:=]\s*["']?)[^\s"',;&}]+/gi, '$1[redacted]');
}

type ErrorLike = {
  name?: unknown;
  message?: unknown;
  errorCode?: unknown;
  code?: unknown;
  status?: unknown;
  statusCode?: unknown;
  data?: unknown;
  cause?: unknown;
  fields?: unknown;
};

/** Parse a REST error body (`[{message, errorCode, fields}]`, or a single object). */
export function parseErrorBody(body: unknown): { errorCode: string; message: string; fields?: string[] } | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    const t = body.trim();
    if (!t.startsWith('[') && !t.startsWith('{')) return undefined;
    try {
      parsed = JSON.parse(t);
    } catch {
      return undefined;
    }
  }
  const first = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!first || typeof first !== 'object') return undefined;
  const o = first as Record<string, unknown>;
  const errorCode = typeof o.errorCode === 'string' ? o.errorCode : typeof o.error === 'string' ? o.error : undefined;
  const message = typeof o.message === 'string' ? o.message : typeof o.error_description === 'string' ? o.error_description : undefined;
  if (!errorCode && !message) return undefined;
  const fields = Array.isArray(o.fields) ? o.fields.filter((f): f is string => typeof f === 'string') : undefined;
  const extra = Array.isArray(parsed) && parsed.length > 1 ? ` (and ${parsed.length - 1} more error(s))` : '';
  return { errorCode: errorCode ?? 'UNKNOWN_ERROR', message: (message ?? errorCode ?? '') + extra, ...(fields ? { fields } : {}) };
}

function networkCode(err: ErrorLike, depth = 0): string | undefined {
  if (depth > 4) return undefined;
  if (typeof err.code === 'string' && /^[A-Z_]+$/.test(err.code)) return err.code;
  if (err.cause && typeof err.cause === 'object') return networkCode(err.cause as ErrorLike, depth + 1);
  return undefined;
}

function shorten(text: string, max = 500): string {
  const t = text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

/**
 * Normalise anything thrown by a Connection, jsforce, undici or this layer into a
 * SalesforceApiError. Idempotent.
 */
export function toApiError(err: unknown): SalesforceApiError {
  if (err instanceof SalesforceApiError) return err;
  if (!err || typeof err !== 'object') {
    return new SalesforceApiError(String(err), { errorCode: 'UNKNOWN_ERROR', transient: false });
  }
  const e = err as ErrorLike;
  const rawMessage = typeof e.message === 'string' ? e.message : String(err);
  let status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  let errorCode = typeof e.errorCode === 'string' ? e.errorCode : undefined;
  let message = rawMessage;
  let fields: string[] | undefined = Array.isArray(e.fields) ? (e.fields as unknown[]).filter((f): f is string => typeof f === 'string') : undefined;

  // jsforce: an error body it could not parse into {message} becomes ERROR_HTTP_<status> with the raw body as message.
  const http = /^ERROR_HTTP_(\d{3})$/.exec(errorCode ?? '');
  if (http) {
    status ??= Number(http[1]);
    const body = parseErrorBody(rawMessage);
    if (body) {
      errorCode = body.errorCode;
      message = body.message;
      fields ??= body.fields;
    } else {
      const text = shorten(rawMessage);
      message = text ? `HTTP ${status}: ${text}` : `HTTP ${status}`;
    }
  } else if (errorCode === 'MULTIPLE_API_ERRORS') {
    const body = parseErrorBody(e.data);
    if (body) ({ errorCode, message } = body);
  }

  // Abort and timeout (DOMException or undici).
  if (!errorCode && (e.name === 'AbortError' || e.name === 'TimeoutError')) {
    const timeout = e.name === 'TimeoutError' || /timeout/i.test(rawMessage);
    return new SalesforceApiError(rawMessage || 'Request aborted', { errorCode: timeout ? 'REQUEST_TIMEOUT' : 'ABORTED', transient: timeout, cause: err });
  }

  if (!errorCode) {
    const net = networkCode(e);
    if (net) {
      const causeMsg = e.cause && typeof e.cause === 'object' && typeof (e.cause as ErrorLike).message === 'string' ? ((e.cause as ErrorLike).message as string) : '';
      return new SalesforceApiError(causeMsg && causeMsg !== rawMessage ? `${rawMessage}: ${causeMsg}` : rawMessage, {
        errorCode: net,
        ...(status !== undefined ? { status } : {}),
        cause: err,
      });
    }
    // fetch() wraps socket failures in TypeError('fetch failed') without a code sometimes.
    if (e.name === 'TypeError' && /fetch failed|other side closed|socket hang up/i.test(rawMessage)) {
      return new SalesforceApiError(rawMessage, { errorCode: 'ECONNRESET', cause: err });
    }
    // jsforce HttpApiError and SfError put the code in `name`.
    if (typeof e.name === 'string' && /^[A-Z][A-Z0-9_]+$/.test(e.name)) errorCode = e.name;
  }

  return new SalesforceApiError(message, {
    errorCode: errorCode ?? 'UNKNOWN_ERROR',
    ...(status !== undefined ? { status } : {}),
    ...(fields ? { fields } : {}),
    cause: err,
  });
}
