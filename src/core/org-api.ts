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
   * Keep JSON numbers that a double cannot hold exactly as their decimal text (a string):
   * before parsing, every number token of the answer whose double would differ from it is
   * quoted (quoteInexactNumbers), so nothing is rounded and the answer is parsed once.
   */
  exactNumbers?: boolean;
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
    return JSON.parse(req.exactNumbers ? quoteInexactNumbers(text) : text) as T;
  } catch (err) {
    throw new SalesforceApiError(`${req.method} ${req.path}: the answer is not JSON (${text.slice(0, 200)})`, {
      errorCode: 'INVALID_RESPONSE',
      transient: false,
      cause: err,
    });
  }
}

/**
 * JSON text in which every number token that a double may not hold exactly (an integer past
 * 2^53, more significant digits than a double keeps, an exponent out of range) is written
 * as a string of its own text, e.g. `[9007199254740993, 1.5]` → `["9007199254740993", 1.5]`.
 * A token of 15 characters or fewer without an exponent always survives a double (at most
 * 15 digits); a longer one, or one with an exponent, is kept as a number only when the
 * double prints back as the very same text, else it becomes its text (every digit kept;
 * the converters read numeric text). Text inside strings is skipped by indexOf, not
 * character by character: a few ms for a 4 MB answer, against ~40 ms to parse it. The same
 * text comes back (no copy) when nothing needs quoting. Malformed JSON is returned as it
 * is, for JSON.parse to refuse.
 */
export function quoteInexactNumbers(text: string): string {
  const n = text.length;
  let out = '';
  let last = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      // Skip the string: its end is a quote preceded by an even number of backslashes.
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) return text;
        let b = q - 1;
        while (text.charCodeAt(b) === 92 /* \ */) b--;
        if ((q - 1 - b) % 2 === 0) {
          i = q + 1;
          break;
        }
        j = q + 1;
      }
      continue;
    }
    if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
      let j = i + 1;
      let exp = false;
      for (; j < n; j++) {
        const d = text.charCodeAt(j);
        if (d === 101 || d === 69) exp = true;
        else if (!((d >= 48 && d <= 57) || d === 46 || d === 43 || d === 45)) break;
      }
      if (j - i > 15 || exp) {
        const token = text.slice(i, j);
        if (String(Number(token)) !== token) {
          out += `${text.slice(last, i)}"${token}"`;
          last = j;
        }
      }
      i = j;
      continue;
    }
    i++;
  }
  return last === 0 ? text : out + text.slice(last);
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
