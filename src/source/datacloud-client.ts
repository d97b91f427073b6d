/*
 * Run one Data 360 SQL query through the Connect REST endpoints of a Core connection and
 * return every row of its result.
 *
 * Preferred: /ssot/query-sql (POST → poll status → page /rows by offset until rowCount).
 * Fallback (api 'auto' when query-sql answers 404 NOT_FOUND, or api 'queryv2'):
 * /ssot/queryv2 (POST → GET /ssot/queryv2/{nextBatchId} until done).
 * Both shapes are parsed defensively (salesforce-api.md §1, UNCERTAIN notes). Rows come
 * back as arrays in column order (no objects per row); numbers keep every digit (a number
 * beyond what a double holds arrives as its decimal text). Each HTTP call goes through the
 * caller's retry policy (`retry`); a finished query-sql query is deleted.
 */
import type { Connection } from '@salesforce/core';
import { SalesforceApiError, toApiError } from '../core/errors.js';
import { requestJson, type QueryParams } from '../core/org-api.js';

export type QueryApi = 'query-sql' | 'queryv2';

export type DataCloudClientOptions = {
  /** Data space name (sent as `dataspace`); omitted → the org's default. */
  dataspace?: string;
  /** 'auto' (default): query-sql, falling back to queryv2 if the endpoint is missing. */
  api?: 'auto' | QueryApi;
  /** Pause between status polls while a query runs (default 1000 ms). */
  pollIntervalMs?: number;
  /** rowLimit of the POST and of each /rows page (default 50,000; an org that caps it lower answers shorter pages, which are read on). */
  rowsPerRequest?: number;
  /** Long-poll wait sent as `waitTimeMs` on status calls (default 5000, max 10000). */
  statusWaitMs?: number;
  /** Give up (and cancel the query) if it runs longer than this (default 30 minutes). */
  queryTimeoutMs?: number;
  /** Empty /rows pages tolerated before rowCount is reached (default 3). */
  emptyPageRetries?: number;
  /** `workloadName` label sent with query-sql calls. */
  workloadName?: string;
  /** The caller's retry policy, applied to each HTTP call (default: none). */
  retry?: RetryPolicy;
};

/** Run `fn` again on transient failures as the caller sees fit; `what` names the call. */
export type RetryPolicy = <T>(fn: () => Promise<T>, what: string, signal?: AbortSignal) => Promise<T>;

export type QueryColumn = { name: string; type: string };
export type QueryResult = { columns: QueryColumn[]; rows: unknown[][] };

/** The index of each column by name. */
export function columnIndex(res: QueryResult): Map<string, number> {
  return new Map(res.columns.map((c, i) => [c.name, i]));
}

/** Rows as objects keyed by column name (for small results: counts, groups). */
export function rowObjects(res: QueryResult): Array<Record<string, unknown>> {
  return res.rows.map((r) => {
    const o: Record<string, unknown> = {};
    res.columns.forEach((c, i) => (o[c.name] = r[i] ?? null));
    return o;
  });
}

const noRetry: RetryPolicy = (fn) => fn();

type Status = { state: 'done' | 'running' | 'failed'; raw: string; queryId?: string; rowCount?: number };

const NOT_PROVISIONED = /couldn'?t find cdp tenant id|cdp tenant id/i;

export class DataCloudClient {
  private mode: QueryApi;
  private readonly auto: boolean;
  private readonly pollIntervalMs: number;
  private readonly rowsPerRequest: number;
  private readonly statusWaitMs: number;
  private readonly queryTimeoutMs: number;
  private readonly emptyPageRetries: number;
  private readonly retry: RetryPolicy;

  public constructor(private readonly conn: Connection, private readonly opts: DataCloudClientOptions = {}) {
    const api = opts.api ?? 'auto';
    this.auto = api === 'auto';
    this.mode = api === 'queryv2' ? 'queryv2' : 'query-sql';
    this.pollIntervalMs = opts.pollIntervalMs ?? 1000;
    this.rowsPerRequest = opts.rowsPerRequest ?? 50_000;
    this.statusWaitMs = Math.max(0, Math.min(opts.statusWaitMs ?? 5000, 10_000));
    this.queryTimeoutMs = opts.queryTimeoutMs ?? 30 * 60_000;
    this.emptyPageRetries = opts.emptyPageRetries ?? 3;
    this.retry = opts.retry ?? noRetry;
  }

  private get<T>(what: string, path: string, query: QueryParams, signal?: AbortSignal): Promise<T | undefined> {
    return this.retry(() => raceAbort(requestJson<T>(this.conn, { method: 'GET', path, query, exactNumbers: true }), signal), what, signal);
  }

  /** The query API in use now ('query-sql' until a fallback happened). */
  public get apiInUse(): QueryApi {
    return this.mode;
  }

  /** Run `sql` and return all its rows, mapped to objects by column name. */
  public async query(sql: string, opts: { signal?: AbortSignal } = {}): Promise<QueryResult> {
    try {
      if (this.mode === 'query-sql') {
        const res = await this.querySql(sql, opts.signal);
        if (res) return res;
        this.mode = 'queryv2'; // the org has no /ssot/query-sql
      }
      return await this.queryV2(sql, opts.signal);
    } catch (err) {
      throw notProvisioned(toApiError(err));
    }
  }

  // ---- /ssot/query-sql ---------------------------------------------------------------

  private params(extra: QueryParams = {}): QueryParams {
    return {
      ...(this.opts.dataspace ? { dataspace: this.opts.dataspace } : {}),
      ...(this.opts.workloadName ? { workloadName: this.opts.workloadName } : {}),
      ...extra,
    };
  }

  /** undefined: the endpoint does not exist (404 NOT_FOUND) and the client may fall back. */
  private async querySql(sql: string, signal?: AbortSignal): Promise<QueryResult | undefined> {
    throwIfAborted(signal);
    let first: Record<string, unknown> | undefined;
    let columns: QueryColumn[] = [];
    try {
      first = await this.retry(
        () =>
          raceAbort(
            requestJson<Record<string, unknown>>(this.conn, {
              method: 'POST',
              path: '/ssot/query-sql',
              query: this.params(),
              json: { sql, rowLimit: this.rowsPerRequest },
              exactNumbers: true,
            }),
            signal
          ),
        'Data Cloud query',
        signal
      );
    } catch (err) {
      const e = toApiError(err);
      if (this.auto && e.status === 404 && e.errorCode === 'NOT_FOUND') return undefined;
      throw e;
    }
    if (!first || typeof first !== 'object') throw invalid('POST /ssot/query-sql returned no body');
    columns = parseColumns(first.metadata);
    const rows: unknown[][] = [];
    pushRows(rows, first.data, columns);
    let status = parseStatus(first.status ?? first);
    const queryId = status.queryId;
    const started = Date.now();

    try {
      // Wait until the result exists.
      while (status.state === 'running') {
        if (!queryId) throw invalid('query-sql answered a running query without a queryId');
        if (Date.now() - started > this.queryTimeoutMs) {
          throw new SalesforceApiError(`Data Cloud query ${queryId} still running after ${Math.round(this.queryTimeoutMs / 1000)} s`, {
            errorCode: 'QUERY_TIMEOUT',
            transient: false,
          });
        }
        await sleep(this.pollIntervalMs, signal);
        const s = await this.get<Record<string, unknown>>('Data Cloud query status', `/ssot/query-sql/${encodeQueryId(queryId)}`, this.params({ waitTimeMs: this.statusWaitMs }), signal);
        const body = (s ?? {}) as Record<string, unknown>;
        status = parseStatus((body.status as Record<string, unknown> | undefined) ?? body);
        status.queryId ??= queryId;
      }
      if (status.state === 'failed') {
        throw new SalesforceApiError(`Data Cloud query ${queryId ?? ''} ended with status ${status.raw}`.replace('  ', ' '), {
          errorCode: 'QUERY_FAILED',
          transient: false,
        });
      }

      // Page the rest by offset. A short page is not the end; only rowCount is.
      const total = status.rowCount;
      let emptyPages = 0;
      while (total === undefined || rows.length < total) {
        if (!queryId) {
          if (total === undefined || rows.length >= total) break;
          throw invalid(`query-sql returned ${rows.length} of ${total} rows and no queryId to fetch the rest`);
        }
        throwIfAborted(signal);
        const page = await this.get<Record<string, unknown>>(
          'Data Cloud rows',
          `/ssot/query-sql/${encodeQueryId(queryId)}/rows`,
          this.params({
            offset: rows.length,
            rowLimit: total === undefined ? this.rowsPerRequest : Math.min(this.rowsPerRequest, total - rows.length),
            ...(columns.length > 0 ? { omitSchema: true } : {}),
          }),
          signal
        );
        const body = (page ?? {}) as Record<string, unknown>;
        if (columns.length === 0) columns = parseColumns(body.metadata);
        const before = rows.length;
        pushRows(rows, body.data, columns);
        if (rows.length > before) {
          emptyPages = 0;
          continue;
        }
        if (total === undefined) break; // no rowCount: an empty page is all we can go by
        if (++emptyPages > this.emptyPageRetries) {
          throw new SalesforceApiError(
            `Data Cloud query ${queryId}: /rows returned no rows at offset ${rows.length} of ${total} (${emptyPages} tries)`,
            { errorCode: 'QUERY_ROWS_MISSING', transient: true }
          );
        }
        await sleep(this.pollIntervalMs, signal);
      }
      if (total !== undefined && rows.length > total) rows.length = total;
      checkWidth(columns, rows);
      if (queryId) await this.cancel(queryId); // read whole: the org can drop it now
      return { columns, rows };
    } catch (err) {
      if (queryId && isAbort(err, signal)) await this.cancel(queryId);
      throw err;
    }
  }

  /** Best-effort DELETE of a query-sql query (a running one is cancelled, a finished one dropped). */
  private async cancel(queryId: string): Promise<void> {
    try {
      await requestJson(this.conn, { method: 'DELETE', path: `/ssot/query-sql/${encodeQueryId(queryId)}`, query: this.params(), timeoutMs: 10_000 });
    } catch {
      // The query expires on its own.
    }
  }

  // ---- /ssot/queryv2 -----------------------------------------------------------------

  private async queryV2(sql: string, signal?: AbortSignal): Promise<QueryResult> {
    // A batch id can be used once: if a page cannot be fetched even after retries, the
    // query is run again from the start (at most twice).
    for (let restart = 0; ; restart++) {
      try {
        return await this.queryV2Once(sql, signal);
      } catch (err) {
        const e = toApiError(err);
        if (restart >= 2 || isAbort(err, signal) || !e.transient) throw e;
      }
    }
  }

  private async queryV2Once(sql: string, signal?: AbortSignal): Promise<QueryResult> {
    throwIfAborted(signal);
    const dataspace = this.opts.dataspace ? { dataspace: this.opts.dataspace } : {};
    let body = await this.retry(
      () => raceAbort(requestJson<Record<string, unknown>>(this.conn, { method: 'POST', path: '/ssot/queryv2', query: dataspace, json: { sql }, exactNumbers: true }), signal),
      'Data Cloud query (queryv2)',
      signal
    );
    if (!body || typeof body !== 'object') throw invalid('POST /ssot/queryv2 returned no body');
    let columns = parseColumns(body.metadata);
    const rows: unknown[][] = [];
    pushRows(rows, body.data, columns);
    const seen = new Set<string>();
    for (;;) {
      const next = typeof body.nextBatchId === 'string' && body.nextBatchId !== '' ? body.nextBatchId : undefined;
      if (body.done === true || !next) break;
      if (seen.has(next)) throw invalid(`queryv2 returned batch id ${next} twice`);
      seen.add(next);
      throwIfAborted(signal);
      const page = await this.get<Record<string, unknown>>('Data Cloud rows (queryv2)', `/ssot/queryv2/${encodeQueryId(next)}`, dataspace, signal);
      body = (page ?? {}) as Record<string, unknown>;
      if (columns.length === 0) columns = parseColumns(body.metadata);
      pushRows(rows, body.data, columns);
    }
    checkWidth(columns, rows);
    return { columns, rows };
  }
}

// ---- parsing ---------------------------------------------------------------------------

/**
 * Columns from either metadata shape: an array `[{name, type}]` (query-sql) or an object
 * keyed by name with `placeInOrder` (queryv2; sorted by it, whatever its base).
 */
export function parseColumns(metadata: unknown): QueryColumn[] {
  if (Array.isArray(metadata)) {
    return metadata
      .filter((m): m is Record<string, unknown> => !!m && typeof m === 'object')
      .map((m) => ({ name: String(m.name ?? m.columnName ?? ''), type: String(m.type ?? m.typeName ?? 'Unspecified') }));
  }
  if (metadata && typeof metadata === 'object') {
    const entries = Object.entries(metadata as Record<string, unknown>).map(([name, v], i) => {
      const o = (v && typeof v === 'object' ? v : {}) as Record<string, unknown>;
      const place = Number(o.placeInOrder);
      return { name, type: String(o.type ?? 'Unspecified'), place: Number.isFinite(place) ? place : Number.MAX_SAFE_INTEGER, i };
    });
    entries.sort((a, b) => a.place - b.place || a.i - b.i);
    return entries.map(({ name, type }) => ({ name, type }));
  }
  return [];
}

/** Append the rows of a `data` array: arrays, `{rowData: [...]}`, or objects keyed by column name. */
function pushRows(out: unknown[][], data: unknown, columns: QueryColumn[]): void {
  if (!Array.isArray(data)) return;
  for (const row of data) {
    if (Array.isArray(row)) out.push(row);
    else if (row && typeof row === 'object' && Array.isArray((row as { rowData?: unknown }).rowData)) out.push((row as { rowData: unknown[] }).rowData);
    else if (row && typeof row === 'object') {
      const o = row as Record<string, unknown>;
      const names = columns.length ? columns.map((c) => c.name) : Object.keys(o);
      out.push(names.map((n) => o[n]));
    } else throw invalid(`unexpected row in Data Cloud answer: ${JSON.stringify(row)?.slice(0, 100)}`);
  }
}

function checkWidth(columns: QueryColumn[], rows: unknown[][]): void {
  if (columns.length === 0) return;
  for (const r of rows) {
    if (r.length !== columns.length) throw invalid(`a Data Cloud row has ${r.length} values for ${columns.length} columns`);
  }
}

function parseStatus(s: unknown): Status {
  const o = (s && typeof s === 'object' ? s : {}) as Record<string, unknown>;
  const raw = String(o.completionStatus ?? o.state ?? o.status ?? '');
  const v = raw.toLowerCase();
  let state: Status['state'];
  if (v === 'resultsproduced' || v === 'finished' || v === 'results_produced' || v === 'completed' || v === 'success') state = 'done';
  else if (/^(failed|failure|canceled|cancelled|error|aborted|expired)$/.test(v)) state = 'failed';
  else state = 'running'; // running, queued, unspecified, running_or_unspecified, ''
  const rowCount = o.rowCount === undefined || o.rowCount === null ? undefined : Number(o.rowCount);
  return {
    state,
    raw: raw || 'unknown',
    ...(typeof o.queryId === 'string' && o.queryId ? { queryId: o.queryId } : {}),
    ...(rowCount !== undefined && Number.isFinite(rowCount) ? { rowCount } : {}),
  };
}

/** queryIds may arrive percent-encoded already; never encode twice. */
export function encodeQueryId(id: string): string {
  return id.includes('%') ? id : encodeURIComponent(id);
}

function invalid(message: string): SalesforceApiError {
  return new SalesforceApiError(message, { errorCode: 'INVALID_RESPONSE', transient: false });
}

function notProvisioned(e: SalesforceApiError): SalesforceApiError {
  if (e.errorCode === 'DATA_CLOUD_NOT_PROVISIONED' || !NOT_PROVISIONED.test(e.message)) return e;
  return new SalesforceApiError(`Data Cloud is not provisioned in this org (${e.message})`, {
    errorCode: 'DATA_CLOUD_NOT_PROVISIONED',
    ...(e.status !== undefined ? { status: e.status } : {}),
    transient: false,
    cause: e,
  });
}

// ---- abort -----------------------------------------------------------------------------

function abortError(signal?: AbortSignal): SalesforceApiError {
  const reason = signal?.reason instanceof Error ? signal.reason.message : 'aborted';
  return new SalesforceApiError(`Data Cloud query cancelled (${reason})`, { errorCode: 'ABORTED', transient: false, cause: signal?.reason });
}

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw abortError(signal);
}

function isAbort(err: unknown, signal?: AbortSignal): boolean {
  return !!signal?.aborted || (err instanceof SalesforceApiError && err.errorCode === 'ABORTED');
}

/** Settle with `p`, or reject as soon as the signal aborts (the request itself runs out). */
function raceAbort<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      p.catch(() => undefined);
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      }
    );
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(t);
      reject(abortError(signal));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
