/*
 * Data Cloud query endpoints on the Core REST base (salesforce-api.md §1):
 *
 *   POST   {v}/ssot/query-sql                      run a query (inline rows, or Running)
 *   GET    {v}/ssot/query-sql/:queryId             status (top level or {status}, per config)
 *   GET    {v}/ssot/query-sql/:queryId/rows        a page: offset, rowLimit|limit, omitSchema
 *   DELETE {v}/ssot/query-sql/:queryId             cancel → 204
 *   POST   {v}/ssot/queryv2                        first batch + nextBatchId
 *   GET    {v}/ssot/queryv2/:nextBatchId           next batch (each id usable once)
 *
 * Switches in `config.dataCloud`: provisioned, querySqlEnabled, runningPolls, holdQueries
 * (new queries stay Running until released), statusShape, shortPageRate, maxRowLimit,
 * queryv2RowShape, placeInOrderBase, queryv2BatchRows, maxConcurrentQueries,
 * queryExpiryWallSeconds / queryv2ExpiryWallSeconds (expiry on the WALL clock, so fast time
 * scales never expire a result being read), maxRetainedQueries, deleteUnknownQuery.
 * SQL goes through ./sql.ts over `config.dataCloud.tables`. Numbers in `data` are JSON
 * numbers; a decimal given as text (beyond 2^53) is written with every digit.
 */
import { HttpError, sendEmpty, sendJson, type Ctx, type Router } from '../http.js';
import type { DcType } from '../config.js';
import type { Emulator } from '../server.js';
import { Rng } from '../random.js';
import { executeSql, type ResultSet, type SqlParameter } from './sql.js';

/** queryv2 cursors idle longer than this (wall ms) no longer count as open queries ("3 minutes between batch calls"). */
const QUERYV2_IDLE_MS = 3 * 60_000;
/** A status long-poll on a running query sleeps at most this long (wall ms). */
const MAX_POLL_SLEEP_MS = 25;

export type QuerySqlRecord = {
  id: string;
  sql: string;
  dataspace: string;
  result: ResultSet;
  createdAt: number;
  /** Reported expirationTime (virtual ms). */
  expiresAt: number;
  /** When the result stops being readable (wall ms, Date.now()). */
  expiresWallAt: number;
  /** Created while dataCloud.holdQueries was on: Running until released. */
  held: boolean;
  /** Status polls left that answer Running. */
  pollsLeft: number;
  pollsTotal: number;
  /** Status polls answered after the results were produced (first says ResultsProduced). */
  statusReadsDone: number;
};

export type QueryV2Cursor = {
  queryId: string;
  result: ResultSet;
  offset: number;
  /** Wall ms (Date.now()). */
  startedAt: number;
  touchedAt: number;
  batchId: string;
};

export type DeletedQuery = { queryId: string; sql: string; deletedAt: string };

/** The Data Cloud side's state, per emulator (for tests: `dataCloudState(emu)`). */
export class DataCloudState {
  public readonly queries = new Map<string, QuerySqlRecord>();
  /** Open queryv2 cursors by their current nextBatchId. */
  public readonly cursors = new Map<string, QueryV2Cursor>();
  /** Batch ids handed out and already used (for a clear second-use error). */
  public readonly usedBatchIds = new Set<string>();
  public readonly ids: Rng;
  public seq = 0;
  /** Queries removed by DELETE (GET /__emulator/deleted). */
  public readonly deleted: DeletedQuery[] = [];
  /** Counters for tests. */
  public readonly counts = { querySql: 0, rowsPages: 0, statusPolls: 0, cancels: 0, queryv2: 0, queryv2Batches: 0, rejected429: 0 };

  public constructor(seed: number) {
    this.ids = new Rng((seed ^ 0x5eed_dc) >>> 0);
  }

  public newQueryId(): string {
    const host = Buffer.from(`10.27.181.149:${7000 + (++this.seq % 3000)}`).toString('base64url');
    return `${host}_${hex(this.ids, 8)}`;
  }

  public newBatchId(): string {
    return `${hex(this.ids, 8)}-${hex(this.ids, 4)}-${hex(this.ids, 4)}-${hex(this.ids, 4)}-${hex(this.ids, 12)}`;
  }

  /** Queries that are still running (held or counting down polls), plus queryv2 cursors being read. */
  public openQueries(wallNow: number): number {
    let n = 0;
    for (const q of this.queries.values()) if ((q.held || q.pollsLeft > 0) && q.expiresWallAt > wallNow) n++;
    for (const c of this.cursors.values()) if (wallNow - c.touchedAt <= QUERYV2_IDLE_MS) n++;
    return n;
  }

  /** dataCloud.holdQueries went off: held queries go on (Running for their runningPolls, then results). */
  public releaseHeld(): void {
    for (const q of this.queries.values()) q.held = false;
  }

  public sweep(wallNow: number, maxRetained: number, queryv2TtlMs: number): void {
    for (const [id, q] of this.queries) if (q.expiresWallAt <= wallNow) this.queries.delete(id);
    for (const [id, c] of this.cursors) if (wallNow - c.startedAt > queryv2TtlMs) this.cursors.delete(id);
    if (this.queries.size > maxRetained) {
      for (const [id, q] of this.queries) {
        if (this.queries.size <= maxRetained) break;
        if (q.pollsLeft === 0 && !q.held) this.queries.delete(id);
      }
    }
    if (this.usedBatchIds.size > 100_000) this.usedBatchIds.clear();
  }
}

function hex(rng: Rng, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += Math.floor(rng.next() * 16).toString(16);
  return s;
}

const states = new WeakMap<Emulator, DataCloudState>();

export function dataCloudState(emu: Emulator): DataCloudState {
  let s = states.get(emu);
  if (!s) states.set(emu, (s = new DataCloudState(emu.config.seed)));
  return s;
}

const QUERY_SQL_FIELDS = new Set(['sql', 'rowLimit', 'adaptiveTimeout', 'querySettings', 'sqlParameters']);
const QUERYV2_FIELDS = new Set(['sql']);

function notFound(what?: string): HttpError {
  return new HttpError(404, 'NOT_FOUND', what ? `The requested resource does not exist: ${what}` : 'The requested resource does not exist');
}

/** Strict Connect REST input: an object with only known fields. */
async function readInput(ctx: Ctx, allowed: Set<string>, className: string): Promise<Record<string, unknown>> {
  const text = (await ctx.body()).toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'JSON_PARSER_ERROR', 'Unexpected character in the request body: it is not valid JSON.');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'JSON_PARSER_ERROR', `Value does not match expected type: expected an object for ${className}.`);
  }
  for (const k of Object.keys(body)) {
    if (!allowed.has(k)) {
      throw new HttpError(
        400,
        'JSON_PARSER_ERROR',
        `Unrecognized field "${k}" (class ${className}), not marked as ignorable (${allowed.size} known properties: ${[...allowed].map((f) => `"${f}"`).join(', ')})`
      );
    }
  }
  const sql = (body as Record<string, unknown>).sql;
  if (sql === undefined || sql === null) throw new HttpError(400, 'INVALID_API_INPUT', 'Missing required field: sql');
  if (typeof sql !== 'string') throw new HttpError(400, 'JSON_PARSER_ERROR', 'Value does not match expected type: "sql" must be a string.');
  return body as Record<string, unknown>;
}

function dataspaceOf(ctx: Ctx): string {
  const header = ctx.req.headers.dataspace;
  return ctx.query.get('dataspace') ?? ctx.query.get('dataspaceName') ?? (Array.isArray(header) ? header[0] : header) ?? 'default';
}

function intParam(ctx: Ctx, names: string[], def: number, min: number): number {
  for (const n of names) {
    const raw = ctx.query.get(n);
    if (raw === null || raw === '') continue;
    if (!/^-?\d+$/.test(raw)) throw new HttpError(400, 'INVALID_PARAMETER_VALUE', `Invalid value for ${n}: ${raw} (expected an integer).`);
    const v = Number(raw);
    if (v < min) throw new HttpError(400, 'INVALID_PARAMETER_VALUE', `Invalid value for ${n}: ${raw} (minimum ${min}).`);
    return v;
  }
  return def;
}

function checkQueryId(id: string): void {
  if (!/^[A-Za-z0-9_-]+$/.test(id)) throw notFound(`query ${id}`);
}

const V2_TYPES: Record<DcType, { type: string; typeCode: number }> = {
  Varchar: { type: 'VARCHAR', typeCode: 12 },
  Numeric: { type: 'DECIMAL', typeCode: 3 },
  Double: { type: 'DOUBLE', typeCode: 8 },
  Integer: { type: 'INTEGER', typeCode: 4 },
  BigInt: { type: 'BIGINT', typeCode: -5 },
  Bool: { type: 'BOOLEAN', typeCode: 16 },
  Date: { type: 'DATE', typeCode: 91 },
  Timestamp: { type: 'TIMESTAMP', typeCode: 93 },
  TimestampTZ: { type: 'TIMESTAMP WITH TIME ZONE', typeCode: 93 },
};

/**
 * queryv2 metadata: an object keyed by column name, with keys deliberately NOT in column
 * order (a client that zips keys with row values mislabels columns, as on a real org).
 */
export function queryv2Metadata(columns: ResultSet['columns'], base: 0 | 1): Record<string, { type: string; placeInOrder: number; typeCode: number }> {
  const entries = columns.map((c, i) => [c.name, { ...V2_TYPES[c.type], placeInOrder: i + base }] as const);
  // Reverse, then rotate by one, so that for n ≥ 2 the first key is never column 0.
  const order = entries.slice().reverse();
  if (order.length > 2) order.push(order.shift()!);
  const out: Record<string, { type: string; placeInOrder: number; typeCode: number }> = {};
  for (const [name, m] of order) out[name] = m;
  return out;
}

function isoNow(emu: Emulator): string {
  return new Date(emu.clock.now()).toISOString();
}

export function registerDataCloudRoutes(router: Router, emu: Emulator): void {
  const st = dataCloudState(emu);
  const dc = (): Emulator['config']['dataCloud'] => emu.config.dataCloud;

  /** Provisioning and the query-sql switch, before anything else. */
  const guard = (querySql: boolean): void => {
    if (!dc().provisioned) {
      throw new HttpError(400, 'INTERNAL_ERROR', `Couldn't find CDP tenant ID for org ${emu.config.auth.orgId}`);
    }
    if (querySql && !dc().querySqlEnabled) throw notFound();
  };

  /** Shorten a page with probability shortPageRate (never to zero while rows remain). */
  const pageSize = (asked: number): number => {
    if (asked > 1 && dc().shortPageRate > 0 && emu.rng.next() < dc().shortPageRate) {
      return 1 + Math.floor(emu.rng.next() * (asked - 1));
    }
    return asked;
  };

  const metadataOf = (rs: ResultSet): Array<{ name: string; type: DcType; nullable: boolean }> =>
    rs.columns.map((c) => ({ name: c.name, type: c.type, nullable: true }));

  /** Held queries stay held while the switch is on; once it is off they run on. */
  const isHeld = (q: QuerySqlRecord): boolean => {
    if (q.held && !dc().holdQueries) q.held = false;
    return q.held;
  };

  const statusOf = (q: QuerySqlRecord): Record<string, unknown> => {
    const running = isHeld(q) || q.pollsLeft > 0;
    const rowCount = q.result.length;
    return {
      chunkCount: running ? 0 : Math.max(1, Math.ceil(rowCount / dc().maxRowLimit)),
      completionStatus: running ? 'Running' : q.statusReadsDone > 0 ? 'Finished' : 'ResultsProduced',
      expirationTime: new Date(q.expiresAt).toISOString(),
      progress: running ? Math.round(((q.pollsTotal - q.pollsLeft) / (q.pollsTotal + 1)) * 100) / 100 : 1,
      queryId: q.id,
      rowCount: running ? 0 : rowCount,
    };
  };

  const getQuery = (id: string): QuerySqlRecord => {
    checkQueryId(id);
    const q = st.queries.get(id);
    if (!q || q.expiresWallAt <= Date.now()) {
      if (q) st.queries.delete(id);
      throw notFound(`query ${id}`);
    }
    return q;
  };

  const tooMany = (): void => {
    const wallNow = Date.now();
    st.sweep(wallNow, Math.max(1, dc().maxRetainedQueries), dc().queryv2ExpiryWallSeconds * 1000);
    if (st.openQueries(wallNow) >= dc().maxConcurrentQueries) {
      st.counts.rejected429++;
      throw new HttpError(429, 'TOO_MANY_REQUESTS', `Query API supports up to ${dc().maxConcurrentQueries} concurrent requests. Try again later.`);
    }
  };

  // ---------------------------------------------------------------- query-sql

  router.on('POST', '{v}/ssot/query-sql', async (ctx) => {
    guard(true);
    const input = await readInput(ctx, QUERY_SQL_FIELDS, 'connect.QuerySqlInputRepresentation');
    const { rowLimit, adaptiveTimeout, querySettings, sqlParameters } = input;
    if (rowLimit !== undefined && (typeof rowLimit !== 'number' || !Number.isInteger(rowLimit) || rowLimit < 0)) {
      throw new HttpError(400, 'INVALID_API_INPUT', `Invalid rowLimit: ${JSON.stringify(rowLimit)} (expected a non-negative integer).`);
    }
    if (adaptiveTimeout !== undefined && (typeof adaptiveTimeout !== 'number' || !Number.isInteger(adaptiveTimeout) || adaptiveTimeout < 0 || adaptiveTimeout > 15)) {
      throw new HttpError(400, 'INVALID_API_INPUT', `Invalid adaptiveTimeout: ${JSON.stringify(adaptiveTimeout)} (0 to 15 seconds).`);
    }
    if (querySettings !== undefined && (querySettings === null || typeof querySettings !== 'object' || Array.isArray(querySettings) || Object.values(querySettings).some((v) => typeof v !== 'string'))) {
      throw new HttpError(400, 'JSON_PARSER_ERROR', 'Value does not match expected type: querySettings must be a map of strings.');
    }
    if (sqlParameters !== undefined && !Array.isArray(sqlParameters)) {
      throw new HttpError(400, 'JSON_PARSER_ERROR', 'Value does not match expected type: sqlParameters must be a list.');
    }
    tooMany();
    const result = executeSql(dc().tables, input.sql as string, sqlParameters as SqlParameter[] | undefined);
    const now = emu.clock.now();
    const polls = Math.max(0, Math.floor(dc().runningPolls));
    const ttlMs = dc().queryExpiryWallSeconds * 1000;
    const q: QuerySqlRecord = {
      id: st.newQueryId(),
      sql: input.sql as string,
      dataspace: dataspaceOf(ctx),
      result,
      createdAt: now,
      expiresAt: now + ttlMs,
      expiresWallAt: Date.now() + ttlMs,
      held: dc().holdQueries,
      pollsLeft: polls,
      pollsTotal: polls,
      statusReadsDone: 0,
    };
    st.queries.set(q.id, q);
    st.counts.querySql++;
    let data: unknown[][] = [];
    if (!q.held && q.pollsLeft === 0 && adaptiveTimeout !== 0) {
      const cap = Math.min(rowLimit === undefined ? Number.POSITIVE_INFINITY : (rowLimit as number), dc().maxRowLimit, result.length);
      data = result.rows(0, cap > 0 ? pageSize(cap) : 0);
    }
    sendJson(ctx.res, 200, { data, metadata: metadataOf(result), returnedRows: data.length, status: statusOf(q) });
  });

  router.on('GET', '{v}/ssot/query-sql/:queryId', async (ctx) => {
    guard(true);
    const q = getQuery(ctx.params.queryId);
    st.counts.statusPolls++;
    const wait = Math.min(10_000, intParam(ctx, ['waitTimeMs'], 0, 0));
    // Polls 1..runningPolls answer Running; the next one ResultsProduced; later ones Finished.
    let status: Record<string, unknown>;
    if (isHeld(q)) {
      if (wait > 0) await new Promise((r) => setTimeout(r, Math.min(wait, MAX_POLL_SLEEP_MS)));
      status = statusOf(q);
    } else if (q.pollsLeft > 0) {
      if (wait > 0) await new Promise((r) => setTimeout(r, Math.min(wait, MAX_POLL_SLEEP_MS)));
      status = statusOf(q);
      q.pollsLeft--;
    } else {
      status = statusOf(q);
      q.statusReadsDone++;
    }
    sendJson(ctx.res, 200, dc().statusShape === 'nested' ? { status } : status);
  });

  router.on('GET', '{v}/ssot/query-sql/:queryId/rows', (ctx) => {
    guard(true);
    const q = getQuery(ctx.params.queryId);
    if (isHeld(q) || q.pollsLeft > 0) {
      throw new HttpError(400, 'INVALID_STATE', `Query ${q.id} is still running: poll GET /ssot/query-sql/${q.id} until its completionStatus is ResultsProduced or Finished.`);
    }
    const offset = intParam(ctx, ['offset'], 0, 0);
    const asked = intParam(ctx, ['rowLimit', 'limit'], dc().maxRowLimit, 1);
    const omitSchema = (ctx.query.get('omitSchema') ?? '').toLowerCase() === 'true';
    const remaining = Math.max(0, q.result.length - offset);
    const n = Math.min(asked, dc().maxRowLimit, remaining);
    const data = n > 0 ? q.result.rows(offset, offset + pageSize(n)) : [];
    st.counts.rowsPages++;
    sendJson(ctx.res, 200, { data, ...(omitSchema ? {} : { metadata: metadataOf(q.result) }), returnedRows: data.length });
  });

  router.on('DELETE', '{v}/ssot/query-sql/:queryId', (ctx) => {
    guard(true);
    let q: QuerySqlRecord;
    try {
      q = getQuery(ctx.params.queryId);
    } catch (err) {
      if (dc().deleteUnknownQuery === 204) {
        sendEmpty(ctx.res, 204);
        return;
      }
      throw err;
    }
    st.queries.delete(q.id);
    st.deleted.push({ queryId: q.id, sql: q.sql, deletedAt: isoNow(emu) });
    st.counts.cancels++;
    sendEmpty(ctx.res, 204);
  });

  // ---------------------------------------------------------------- queryv2

  const v2Batch = (c: QueryV2Cursor): Record<string, unknown> => {
    const cfg = dc();
    const startTime = isoNow(emu);
    const remaining = Math.max(0, c.result.length - c.offset);
    const n = Math.min(Math.max(1, cfg.queryv2BatchRows), remaining);
    const rows = n > 0 ? c.result.rows(c.offset, c.offset + pageSize(n)) : [];
    c.offset += rows.length;
    c.touchedAt = Date.now();
    const done = c.offset >= c.result.length;
    st.cursors.delete(c.batchId);
    let nextBatchId: string | undefined;
    if (!done) {
      nextBatchId = st.newBatchId();
      c.batchId = nextBatchId;
      st.cursors.set(nextBatchId, c);
    }
    st.counts.queryv2Batches++;
    return {
      data: cfg.queryv2RowShape === 'rowData' ? rows.map((r) => ({ rowData: r })) : rows,
      startTime,
      endTime: isoNow(emu),
      rowCount: rows.length,
      queryId: c.queryId,
      ...(nextBatchId ? { nextBatchId } : {}),
      done,
      metadata: queryv2Metadata(c.result.columns, cfg.placeInOrderBase),
    };
  };

  router.on('POST', '{v}/ssot/queryv2', async (ctx) => {
    guard(false);
    const input = await readInput(ctx, QUERYV2_FIELDS, 'connect.CdpQueryInputRepresentation');
    tooMany();
    const result = executeSql(dc().tables, input.sql as string);
    const d = new Date(emu.clock.now());
    const now = Date.now();
    const c: QueryV2Cursor = {
      queryId: `${d.toISOString().slice(0, 10).replace(/-/g, '')}_${d.toISOString().slice(11, 19).replace(/:/g, '')}_${String(++st.seq % 100000).padStart(5, '0')}_${hex(st.ids, 5)}`,
      result,
      offset: 0,
      startedAt: now,
      touchedAt: now,
      batchId: '',
    };
    st.counts.queryv2++;
    sendJson(ctx.res, 200, v2Batch(c));
  });

  router.on('GET', '{v}/ssot/queryv2/:nextBatchId', (ctx) => {
    guard(false);
    const id = ctx.params.nextBatchId;
    const c = st.cursors.get(id);
    if (!c || Date.now() - c.startedAt > dc().queryv2ExpiryWallSeconds * 1000) {
      if (c) st.cursors.delete(id);
      if (st.usedBatchIds.has(id)) {
        throw new HttpError(400, 'INVALID_INPUT', `Batch id ${id} was already used: nextBatchId is a forward-only cursor and each id is valid once.`);
      }
      throw notFound(`batch ${id}`);
    }
    st.usedBatchIds.add(id);
    sendJson(ctx.res, 200, v2Batch(c));
  });
}
