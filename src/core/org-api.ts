/*
 * How this plugin talks HTTP to an org: one request helper over the Connection of
 * @salesforce/core (so auth headers, session refresh with a refresh token, proxies and
 * Sforce-Limit-Info accounting stay jsforce's), plus describe and /limits.
 *
 * The helper asks jsforce for the raw text of every answer and turns off its automatic
 * retries: callers get the body untouched (CSV is never parsed by jsforce) and every
 * failure as a SalesforceApiError with the HTTP status, so the retry policy lives in one
 * place, above this layer.
 */
import type { Connection } from '@salesforce/core';
import { SalesforceApiError, toApiError } from './errors.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export type QueryParams = Record<string, string | number | boolean | undefined>;

export type WireRequest = {
  method: HttpMethod;
  /** Path below /services/data/vNN.N (starting with `/`), or an absolute /services/… path or URL. */
  path: string;
  query?: QueryParams;
  /** Raw body. */
  body?: string | Buffer;
  /** JSON body (serialised here, sent as application/json). */
  json?: unknown;
  headers?: Record<string, string>;
  /** Whole-request timeout in ms (default 10 minutes). */
  timeoutMs?: number;
  /**
   * Keep JSON numbers that a double cannot hold exactly as their decimal text. The answer
   * is parsed fast first; only when a number in it may have lost digits (a value of 16 or
   * more significant digits) is it parsed again, number by number from the source text.
   * A function narrows where numbers are looked for (e.g. a query's numeric columns).
   */
  exactNumbers?: boolean | ((parsed: unknown) => boolean);
};

const DEFAULT_TIMEOUT_MS = 10 * 60_000;

/**
 * Absolute URL of a REST resource. `path` relative to /services/data/vNN.N unless it
 * already starts with /services/ or is absolute. instanceUrl may end with `/`.
 */
export function apiUrl(conn: Connection, path: string, query?: QueryParams): string {
  let url: URL;
  if (/^https?:\/\//i.test(path)) url = new URL(path);
  else if (path.startsWith('/services/')) url = new URL(path, conn.instanceUrl);
  else url = new URL(`/services/data/v${conn.getApiVersion()}${path.startsWith('/') ? '' : '/'}${path}`, conn.instanceUrl);
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
  return url.toString();
}

const sentByConn = new WeakMap<Connection, number>();

/** Requests sent through `conn` by this process (every one counts against DailyApiRequests). */
export function requestsSent(conn: Connection): number {
  return sentByConn.get(conn) ?? 0;
}

/** Send a request; resolves with the raw response text ('' for 204). Throws SalesforceApiError. */
export async function requestText(conn: Connection, req: WireRequest): Promise<string> {
  sentByConn.set(conn, (sentByConn.get(conn) ?? 0) + 1);
  const headers: Record<string, string> = { ...(req.headers ?? {}) };
  let body: string | Buffer | undefined = req.body;
  if (req.json !== undefined) {
    body = JSON.stringify(req.json);
    headers['content-type'] = 'application/json; charset=utf-8';
  }
  const options = {
    responseType: 'text/plain',
    noContentResponse: '',
    timeout: req.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    // No retries down here: the caller's policy decides (and jsforce would re-send a consumed upload stream).
    retry: { maxRetries: 0, methods: [], statusCodes: [] },
  };
  try {
    const res: unknown = await conn.request<string>(
      { method: req.method, url: apiUrl(conn, req.path, req.query), headers, ...(body !== undefined ? { body: body as string } : {}) },
      options
    );
    if (res === undefined || res === null) return '';
    return Buffer.isBuffer(res) ? res.toString('utf8') : typeof res === 'string' ? res : JSON.stringify(res);
  } catch (err) {
    throw toApiError(err);
  }
}

/** Send a request and parse a JSON answer (undefined for an empty body). */
export async function requestJson<T>(conn: Connection, req: WireRequest): Promise<T | undefined> {
  const text = await requestText(conn, req);
  if (text.trim() === '') return undefined;
  try {
    // The reviver is slow; only a number of 16 or more digits can lose precision in a double.
    const fast = JSON.parse(text) as unknown;
    const check = typeof req.exactNumbers === 'function' ? req.exactNumbers : req.exactNumbers ? mayHaveLostDigits : undefined;
    return (check?.(fast) ? JSON.parse(text, exactNumber) : fast) as T;
  } catch (err) {
    throw new SalesforceApiError(`${req.method} ${req.path}: the answer is not JSON (${text.slice(0, 200)})`, {
      errorCode: 'INVALID_RESPONSE',
      transient: false,
      cause: err,
    });
  }
}

/** Some number in the parsed value has 16+ significant digits (an integer past 2^53, or a long decimal). */
export function mayHaveLostDigits(v: unknown, depth = 0): boolean {
  if (typeof v === 'number') return !Number.isSafeInteger(v) && String(v).length > 16 && significantDigits(v) >= 16;
  if (depth > 8 || v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) {
    for (const x of v) if ((typeof x === 'number' || (x !== null && typeof x === 'object')) && mayHaveLostDigits(x, depth + 1)) return true;
    return false;
  }
  for (const x of Object.values(v as Record<string, unknown>)) if ((typeof x === 'number' || (x !== null && typeof x === 'object')) && mayHaveLostDigits(x, depth + 1)) return true;
  return false;
}

function significantDigits(n: number): number {
  const s = String(n);
  const e = s.indexOf('e');
  const m = (e >= 0 ? s.slice(0, e) : s).replace(/^-/, '').replace('.', '').replace(/^0+/, '');
  return Number.isInteger(n) && e < 0 ? m.length : m.replace(/0+$/, '').length || 1;
}

/**
 * JSON.parse reviver (Node 22 passes the source text): a number whose double differs from
 * its text (beyond 2^53, or more decimals than a double keeps) stays as that text.
 */
function exactNumber(this: unknown, _key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== 'number' || !context?.source) return value;
  const src = context.source;
  if (Number.isSafeInteger(value) && /^-?\d+$/.test(src)) return value;
  return sameNumber(String(value), src) ? value : src;
}

function sameNumber(a: string, b: string): boolean {
  const norm = (x: string): string => {
    const m = /^(-?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(x);
    if (!m) return x;
    const digits = (m[2] + (m[3] ?? '')).replace(/^0+/, '');
    const exp = Number(m[4] ?? 0) + (m[2].replace(/^0+/, '').length || -((m[3] ?? '').match(/^0*/)?.[0].length ?? 0));
    const d = digits.replace(/0+$/, '');
    return d === '' ? '0' : `${m[1]}${d}e${exp}`;
  };
  return norm(a) === norm(b);
}

export type FieldDescribe = {
  name: string;
  type: string;
  externalId: boolean;
  idLookup: boolean;
  referenceTo: string[];
  relationshipName: string | null;
  nillable: boolean;
  createable: boolean;
  updateable: boolean;
  /** Max length of text fields (0 when not applicable). */
  length?: number;
  unique?: boolean;
  /** Values compare case-sensitively (describe caseSensitive; text External IDs are case-insensitive unless created so). */
  caseSensitive?: boolean;
};

export type SObjectDescribe = { name: string; label?: string; fields: FieldDescribe[] };

/** Describe an sObject; undefined if the org has no such object (404 NOT_FOUND / INVALID_TYPE). */
export async function describeSObject(conn: Connection, name: string): Promise<SObjectDescribe | undefined> {
  let raw: Record<string, unknown> | undefined;
  try {
    raw = await requestJson<Record<string, unknown>>(conn, { method: 'GET', path: `/sobjects/${encodeURIComponent(name)}/describe` });
  } catch (err) {
    const e = toApiError(err);
    if (e.status === 404 || e.errorCode === 'NOT_FOUND' || e.errorCode === 'INVALID_TYPE') return undefined;
    throw e;
  }
  if (!raw || typeof raw.name !== 'string' || !Array.isArray(raw.fields)) {
    throw new SalesforceApiError(`describe ${name}: unexpected answer`, { errorCode: 'INVALID_RESPONSE', transient: false });
  }
  const fields = (raw.fields as Array<Record<string, unknown>>).map(
    (f): FieldDescribe => ({
      name: String(f.name),
      type: String(f.type ?? 'string'),
      externalId: f.externalId === true,
      idLookup: f.idLookup === true,
      referenceTo: Array.isArray(f.referenceTo) ? f.referenceTo.map(String) : [],
      relationshipName: typeof f.relationshipName === 'string' ? f.relationshipName : null,
      nillable: f.nillable === true,
      createable: f.createable === true,
      updateable: f.updateable === true,
      ...(typeof f.length === 'number' ? { length: f.length } : {}),
      ...(typeof f.unique === 'boolean' ? { unique: f.unique } : {}),
      ...(typeof f.caseSensitive === 'boolean' ? { caseSensitive: f.caseSensitive } : {}),
    })
  );
  return { name: raw.name, ...(typeof raw.label === 'string' ? { label: raw.label } : {}), fields };
}

export type OrgLimits = Record<string, { Max: number; Remaining: number }>;

/** GET /limits: every limit of the org, keyed by name. */
export async function getLimits(conn: Connection): Promise<OrgLimits> {
  const raw = await requestJson<Record<string, unknown>>(conn, { method: 'GET', path: '/limits' });
  const out: OrgLimits = {};
  for (const [k, v] of Object.entries(raw ?? {})) {
    if (!v || typeof v !== 'object') continue;
    const o = v as Record<string, unknown>;
    const max = Number(o.Max);
    const remaining = Number(o.Remaining);
    if (Number.isFinite(max) && Number.isFinite(remaining)) out[k] = { Max: max, Remaining: remaining };
  }
  return out;
}

/** The id of the connection's user, from the identity endpoint (GET /services/oauth2/userinfo). */
export async function getUserId(conn: Connection): Promise<string | undefined> {
  const info = await requestJson<Record<string, unknown>>(conn, { method: 'GET', path: '/services/oauth2/userinfo' });
  return typeof info?.user_id === 'string' ? info.user_id : undefined;
}
