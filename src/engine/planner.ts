/*
 * `plan`: check the definition against the org before anything is written (target object
 * and fields by describe, source object and columns by a probe query, Data Cloud
 * provisioned), count the rows, find what cannot become a record (null keys, duplicate
 * keys as the org compares them, null parents), cut partitions and estimate what the run
 * will spend. Every call goes through the engine's HTTP retry policy.
 */
import type { KeyValue, LoadDefinition, LoadPlan, PlanPartition } from '../state/types.js';
import { describeSObject, getLimits, type FieldDescribe, type SObjectDescribe } from '../core/org-api.js';
import { SalesforceApiError, toApiError } from '../core/errors.js';
import type { DataCloudClient, QueryResult } from '../source/datacloud-client.js';
import { quoteIdent } from '../source/sql.js';
import type { Connection } from '@salesforce/core';
import { sourceColumns } from './definition.js';
import { LoadError } from './errors.js';
import type { Retrying } from './http-retry.js';
import { autoRowsPerJob, INTERNAL_BATCH_ROWS } from './sizing.js';
import { basePredicates, where } from './predicates.js';

/** The platform's skew threshold: more children than this under one parent is a warning. */
export const SKEW_THRESHOLD = 10_000;
/** Duplicate keys a run can track (their winners are kept in memory and in the plan's file). */
export const MAX_DUPLICATE_KEYS = 100_000;

export type OrgContext = { conn: Connection; dc: DataCloudClient; retry: Retrying };

export type TargetInfo = {
  describe: SObjectDescribe;
  /** Target field path → field type used to convert values ("string" for parent references). */
  fieldTypes: Record<string, string>;
  /** The external ID field compares case-sensitively. */
  keyCaseSensitive: boolean;
  /** Target fields (as mapped) whose values name a parent record the org locks, and their case rule. */
  parentFields: Array<{ field: string; caseSensitive: boolean }>;
};

/** Check the target object and every mapped field. */
export async function checkTarget(ctx: Pick<OrgContext, 'conn' | 'retry'>, def: LoadDefinition): Promise<TargetInfo> {
  const describe = await ctx.retry(() => describeSObject(ctx.conn, def.target.object), `describe ${def.target.object}`);
  if (!describe) {
    throw new LoadError('UnknownTargetObject', `The org has no sObject named ${def.target.object}.`, [
      'Check target.object (API name, e.g. Opportunity or My_Object__c) and that your user can see it.',
    ]);
  }
  const byName = new Map(describe.fields.map((f) => [f.name.toLowerCase(), f]));
  const ext = byName.get(def.target.externalIdField.toLowerCase());
  if (!ext) {
    throw new LoadError('UnknownTargetField', `${def.target.object} has no field ${def.target.externalIdField}.`, [
      `Set target.externalIdField to an External ID field of ${def.target.object}. ${suggest(def.target.externalIdField, describe.fields.filter((f) => f.externalId || f.idLookup))}`,
    ]);
  }
  if (!ext.externalId && !ext.idLookup) {
    const candidates = describe.fields.filter((f) => f.externalId).map((f) => f.name);
    throw new LoadError('NotAnExternalId', `${def.target.object}.${ext.name} is not an External ID field, so rows can't be upserted by it.`, [
      candidates.length ? `Use one of ${def.target.object}'s External ID fields: ${candidates.join(', ')}.` : `${def.target.object} has no External ID field: create one (Setup → Object Manager → Fields, "External ID" checked).`,
    ]);
  }
  const fieldTypes: Record<string, string> = {};
  const parentFields: TargetInfo['parentFields'] = [];
  for (const target of Object.values(def.target.mapping)) {
    if (target.includes('.')) {
      const [rel, field] = target.split('.');
      const ref = describe.fields.find((f) => f.relationshipName?.toLowerCase() === rel.toLowerCase());
      if (!ref) {
        throw new LoadError('UnknownTargetField', `${def.target.object} has no relationship named ${rel} (in mapping "${target}").`, [
          `Use the relationship name of a lookup field, e.g. Account.External_ID__c for AccountId.`,
        ]);
      }
      const parentObject = ref.referenceTo[0];
      const parent = parentObject ? await ctx.retry(() => describeSObject(ctx.conn, parentObject), `describe ${parentObject}`) : undefined;
      const pf = parent?.fields.find((f) => f.name.toLowerCase() === field.toLowerCase());
      if (!pf || (!pf.externalId && !pf.idLookup)) {
        throw new LoadError('UnknownTargetField', `${parentObject ?? rel}.${field} is not an External ID field, so "${target}" can't reference a parent.`, [
          `Use an External ID field of ${parentObject ?? rel}.`,
        ]);
      }
      fieldTypes[target] = 'string';
      parentFields.push({ field: target, caseSensitive: pf.caseSensitive === true });
    } else {
      const f = byName.get(target.toLowerCase());
      if (!f) {
        throw new LoadError('UnknownTargetField', `${def.target.object} has no field ${target}.`, [`Fix target.mapping. ${suggest(target, describe.fields)}`]);
      }
      if (!f.createable && !f.updateable && f.name.toLowerCase() !== ext.name.toLowerCase()) {
        throw new LoadError('ReadOnlyTargetField', `${def.target.object}.${f.name} can't be written.`, ['Remove it from target.mapping.']);
      }
      fieldTypes[target] = f.type;
      // A lookup by Id locks its target too (Ids compare exactly).
      if (f.type === 'reference') parentFields.push({ field: target, caseSensitive: true });
    }
  }
  return { describe, fieldTypes, keyCaseSensitive: ext.caseSensitive === true, parentFields };
}

/** Probe the source with one row: object, columns, provisioning; returns the column types. */
export async function checkSource(ctx: OrgContext, def: LoadDefinition): Promise<Record<string, string>> {
  const cols = sourceColumns(def);
  const sql = `SELECT ${cols.map(quoteIdent).join(', ')} FROM ${quoteIdent(def.source.object)}${where([def.source.filter])} LIMIT 1`;
  const res = await dcQuery(ctx, sql, def);
  const types: Record<string, string> = {};
  for (const c of res.columns) types[c.name] = c.type;
  return types;
}

export type PlanResult = { plan: LoadPlan; duplicateKeys: string[]; target: TargetInfo };

export async function buildPlan(ctx: OrgContext, def: LoadDefinition): Promise<PlanResult> {
  const target = await checkTarget(ctx, def);
  const columnTypes = await checkSource(ctx, def);
  const table = quoteIdent(def.source.object);
  const filter = def.source.filter;
  const key = quoteIdent(def.source.keyColumn);
  const count = async (preds: Array<string | undefined>): Promise<number> => {
    const res = await dcQuery(ctx, `SELECT COUNT(*) AS ${quoteIdent('n')} FROM ${table}${where(preds)}`, def);
    return Number(res.rows[0]?.[0] ?? 0);
  };
  const p = def.pacing;
  const byParent = p.partitionBy === 'parent' && def.source.parentColumn !== undefined;
  const warnings: string[] = [];
  // The counts, the duplicate check and the parent groups do not depend on each other: ask
  // for them together (a real Data Cloud answers them side by side).
  const parent = def.source.parentColumn;
  const [totalRows, nullKeys, dup, groups] = await Promise.all([
    count([filter]),
    count([filter, `${key} IS NULL`]),
    findDuplicates(ctx, def, target.keyCaseSensitive, warnings),
    byParent
      ? dcQuery(
          ctx,
          `SELECT ${quoteIdent(parent!)}, COUNT(*) AS ${quoteIdent('n')} FROM ${table}${where([filter, `${key} IS NOT NULL`])} GROUP BY ${quoteIdent(parent!)} ORDER BY ${quoteIdent(parent!)}`,
          def
        )
      : undefined,
  ]);
  if (!totalRows) {
    throw new LoadError('EmptySource', `${def.source.object} has no rows${filter ? ' matching the filter' : ''}; there is nothing to load.`, [
      filter ? `Check source.filter (${filter}).` : 'Check source.object and the data space.',
    ]);
  }
  if (nullKeys) warnings.push(`${nullKeys.toLocaleString('en-US')} rows have no ${def.source.keyColumn}: they can't be upserted and will be listed as failed (MISSING_KEY).`);
  if (dup.keys.length) {
    warnings.push(
      `${dup.keys.length.toLocaleString('en-US')} ${def.source.keyColumn} values are held by more than one row (${dup.extraRows.toLocaleString('en-US')} extra rows${
        target.keyCaseSensitive ? '' : ', compared case-insensitively like the org'
      }), e.g. ${dup.keys.slice(0, 3).join(', ')}. One row of each loads; the others are listed as failed (DUPLICATE_SOURCE_KEY). Fix the source, or filter the copies out with source.filter.`
    );
  }
  if (p.partitionBy === 'parent' && !def.source.parentColumn) {
    warnings.push('No source.parentColumn: partitions are cut by key range, so children of one parent may sit in jobs that run at the same time. Name the parent column to avoid lock contention.');
  }
  const keyed = totalRows - nullKeys;
  const rowsPerJob = p.rowsPerJob === 'auto' ? autoRowsPerJob(keyed, p.maxConcurrency) : p.rowsPerJob;
  const wanted = p.partitions === 'auto' ? Math.max(1, Math.ceil(keyed / rowsPerJob)) : p.partitions;

  let partitions: PlanPartition[];
  let nullParents = 0;
  const skewedParents: LoadPlan['skewedParents'] = [];
  if (byParent && groups) {
    const counts: Array<{ parent: KeyValue; rows: number }> = [];
    for (const r of groups.rows) {
      const v = r[0] as KeyValue | null;
      const n = Number(r[1]);
      if (v === null || v === undefined) nullParents += n;
      else counts.push({ parent: v, rows: n });
    }
    for (const c of counts) if (c.rows > SKEW_THRESHOLD) skewedParents.push({ parent: c.parent, rows: c.rows });
    partitions = cutByParent(counts, wanted, keyed - nullParents, p.partitions === 'auto' ? rowsPerJob : undefined);
    if (nullParents) {
      partitions.push({ index: partitions.length, lowerExclusive: null, upperInclusive: null, rows: nullParents, startOffsetSeconds: 0, nullParent: true });
      warnings.push(`${nullParents.toLocaleString('en-US')} rows have no ${parent}: they load in a partition of their own (no parent to lock).`);
    }
  } else {
    partitions = await cutByKey(ctx, def, keyed, wanted, columnTypes);
  }
  if (nullKeys) partitions.push({ index: partitions.length, lowerExclusive: null, upperInclusive: null, rows: nullKeys, startOffsetSeconds: 0, nullKeys: true });
  partitions.forEach((part, i) => (part.startOffsetSeconds = i * p.staggerSeconds));
  if (skewedParents.length) {
    const largest = skewedParents.sort((a, b) => b.rows - a.rows)[0].rows;
    warnings.push(
      `${skewedParents.length} parent(s) have more than ${SKEW_THRESHOLD.toLocaleString('en-US')} children (largest: ${largest.toLocaleString('en-US')}). Their rows load in consecutive jobs, never two at once.`
    );
  }

  const loadParts = partitions.filter((x) => !x.nullKeys);
  const jobs = loadParts.reduce((n, part) => n + Math.ceil(part.rows / rowsPerJob), 0);
  const internalBatches = loadParts.reduce((n, part) => {
    const full = Math.floor(part.rows / rowsPerJob);
    const rest = part.rows % rowsPerJob;
    return n + full * Math.ceil(rowsPerJob / INTERNAL_BATCH_ROWS) + (rest ? Math.ceil(rest / INTERNAL_BATCH_ROWS) : 0);
  }, 0);
  // Per job: create, upload, close, ~3 polls, 2 result files, delete; per page: query, rows, delete.
  const apiCalls = jobs * 9 + jobs * 3;
  const limits: LoadPlan['estimates']['limits'] = {};
  try {
    const l = await ctx.retry(() => getLimits(ctx.conn), 'limits');
    if (l.DailyApiRequests) limits.DailyApiRequests = { remaining: l.DailyApiRequests.Remaining, needed: apiCalls };
    if (l.DailyBulkApiBatches) limits.DailyBulkApiBatches = { remaining: l.DailyBulkApiBatches.Remaining, needed: internalBatches };
    for (const [name, v] of Object.entries(limits)) {
      if (v.needed > v.remaining) warnings.push(`${name}: the run needs about ${v.needed} but the org has ${v.remaining} left today.`);
    }
  } catch (err) {
    const e = toApiError(err);
    if (e.status === 401 || e.errorCode === 'INVALID_SESSION_ID') throw e;
    warnings.push(`Could not read /limits (${e.errorCode}${e.status ? `, HTTP ${e.status}` : ''}); the run's needs were not checked against the org's allocations.`);
  }
  const plan: LoadPlan = {
    createdAt: new Date().toISOString(),
    totalRows,
    rowsPerJob,
    keyColumns: byParent ? [def.source.parentColumn!, def.source.keyColumn] : [def.source.keyColumn],
    partitionColumn: byParent ? def.source.parentColumn! : def.source.keyColumn,
    partitions,
    skewedParents: skewedParents.slice(0, 50),
    warnings,
    estimates: { jobs, internalBatches, apiCalls, limits },
    queryApi: ctx.dc.apiInUse,
    columnTypes,
    keyCaseSensitive: target.keyCaseSensitive,
    parentCaseSensitive: target.parentFields.length ? target.parentFields.every((f) => f.caseSensitive) : null,
    nullKeys,
    nullParents,
    duplicates: { keys: dup.keys.length, extraRows: dup.extraRows, examples: dup.keys.slice(0, 10) },
  };
  return { plan, duplicateKeys: dup.keys, target };
}

/**
 * Keys held by more than one row, normalised as the org compares them (lower case for a
 * case-insensitive External ID). Needs GROUP BY … HAVING; where the source cannot answer
 * that, the plan says so and the run still catches duplicates within a page.
 */
async function findDuplicates(ctx: OrgContext, def: LoadDefinition, caseSensitive: boolean, warnings: string[]): Promise<{ keys: string[]; extraRows: number }> {
  const key = quoteIdent(def.source.keyColumn);
  const table = quoteIdent(def.source.object);
  const run = (expr: string): Promise<QueryResult> =>
    dcQuery(
      ctx,
      `SELECT ${expr} AS ${quoteIdent('k')}, COUNT(*) AS ${quoteIdent('n')} FROM ${table}${where([def.source.filter, `${key} IS NOT NULL`])} GROUP BY ${expr} HAVING COUNT(*) > 1 ORDER BY ${quoteIdent('k')} LIMIT ${MAX_DUPLICATE_KEYS + 1}`,
      def
    );
  let res: QueryResult | undefined;
  try {
    res = await run(caseSensitive ? key : `LOWER(${key})`);
  } catch (err) {
    if (!(err instanceof LoadError && err.code === 'SourceQueryRejected')) throw err;
    if (!caseSensitive) {
      try {
        res = await run(key);
        warnings.push('The source could not compare keys case-insensitively (LOWER); duplicates were checked case-sensitively only.');
      } catch (e2) {
        if (!(e2 instanceof LoadError && e2.code === 'SourceQueryRejected')) throw e2;
      }
    }
    if (!res) {
      warnings.push('The source could not be checked for duplicate keys (GROUP BY … HAVING was refused); duplicates within a page are still caught.');
      return { keys: [], extraRows: 0 };
    }
  }
  if (res.rows.length > MAX_DUPLICATE_KEYS) {
    throw new LoadError('TooManyDuplicateKeys', `More than ${MAX_DUPLICATE_KEYS.toLocaleString('en-US')} ${def.source.keyColumn} values are held by several rows: ${def.source.keyColumn} is not a key of ${def.source.object}.`, [
      'Choose a unique column as source.keyColumn, or filter the copies out with source.filter.',
    ]);
  }
  let extraRows = 0;
  const keys: string[] = [];
  for (const r of res.rows) {
    const k = String(r[0]);
    keys.push(caseSensitive ? k : k.toLowerCase());
    extraRows += Number(r[1]) - 1;
  }
  return { keys, extraRows };
}

/**
 * Cut at parent boundaries. With `maxRows` (auto partitions) a cut comes before the parent
 * that would make a partition exceed it, so partitions fill whole jobs; a parent larger
 * than that forms its own partition. Without it, greedy cuts give `wanted` partitions.
 */
export function cutByParent(counts: Array<{ parent: KeyValue; rows: number }>, wanted: number, total: number, maxRows?: number): PlanPartition[] {
  const target = maxRows ?? total / Math.max(1, wanted);
  const out: PlanPartition[] = [];
  let lower: KeyValue | null = null;
  let acc = 0;
  let prev: KeyValue | null = null;
  const cut = (upper: KeyValue | null): void => {
    out.push({ index: out.length, lowerExclusive: lower, upperInclusive: upper, rows: acc, startOffsetSeconds: 0 });
    lower = upper;
    acc = 0;
  };
  for (const c of counts) {
    if (maxRows !== undefined && acc > 0 && acc + c.rows > maxRows) cut(prev);
    acc += c.rows;
    prev = c.parent;
    if (maxRows === undefined && acc >= target && out.length < wanted - 1) cut(prev);
  }
  if (acc > 0 || out.length === 0) cut(null);
  else out[out.length - 1].upperInclusive = null;
  return out;
}

/** Key-range partitions of equal size, found by probing the key at row offsets. */
async function cutByKey(ctx: OrgContext, def: LoadDefinition, total: number, wanted: number, types: Record<string, string>): Promise<PlanPartition[]> {
  const n = Math.max(1, Math.min(wanted, total));
  const key = quoteIdent(def.source.keyColumn);
  const bounds: KeyValue[] = [];
  const preds = basePredicates(def, { keyColumns: [def.source.keyColumn], partitionColumn: def.source.keyColumn, columnTypes: types }, { index: 0, lowerExclusive: null, upperInclusive: null, rows: 0, startOffsetSeconds: 0 });
  for (let i = 1; i < n; i++) {
    const offset = Math.floor((i * total) / n) - 1;
    const res = await dcQuery(ctx, `SELECT ${key} FROM ${quoteIdent(def.source.object)}${where(preds)} ORDER BY ${key} LIMIT 1 OFFSET ${offset}`, def);
    const v = res.rows[0]?.[0] as KeyValue | undefined;
    if (v === undefined || v === null) break;
    if (bounds.length && bounds[bounds.length - 1] === v) continue;
    bounds.push(v);
  }
  const out: PlanPartition[] = [];
  let lower: KeyValue | null = null;
  for (let i = 0; i <= bounds.length; i++) {
    const upper = i < bounds.length ? bounds[i] : null;
    const rows = Math.floor(((i + 1) * total) / (bounds.length + 1)) - Math.floor((i * total) / (bounds.length + 1));
    out.push({ index: i, lowerExclusive: lower, upperInclusive: upper, rows, startOffsetSeconds: 0 });
    lower = upper;
  }
  return out;
}

/** The source's rows under the definition's filter (COUNT(*)). */
export async function countRows(ctx: Pick<OrgContext, 'dc'>, def: LoadDefinition): Promise<number> {
  const res = await dcQuery(ctx, `SELECT COUNT(*) AS ${quoteIdent('n')} FROM ${quoteIdent(def.source.object)}${where([def.source.filter])}`, def);
  return Number(res.rows[0]?.[0] ?? 0);
}

/** Run a Data Cloud query, turning its errors into LoadErrors that name the problem. */
export async function dcQuery(ctx: Pick<OrgContext, 'dc'>, sql: string, def: LoadDefinition, signal?: AbortSignal): Promise<QueryResult> {
  try {
    return await ctx.dc.query(sql, { signal });
  } catch (err) {
    throw sourceError(err, def);
  }
}

export function sourceError(err: unknown, def: LoadDefinition): Error {
  if (err instanceof LoadError) return err;
  const e = toApiError(err);
  if (e.errorCode === 'DATA_CLOUD_NOT_PROVISIONED' || /cdp tenant id/i.test(e.message)) {
    return new LoadError('DataCloudNotProvisioned', "Data Cloud is not provisioned in this org (Couldn't find CDP tenant ID).", [
      'Check that --target-org is the org where Data Cloud is set up (Data Cloud Setup shows its tenant).',
    ]);
  }
  if (e.status === 401 || e.errorCode === 'INVALID_SESSION_ID') return sessionExpired();
  if (e.status && e.status >= 400 && e.status < 500 && e.status !== 429 && !e.quota) {
    // The org's message can quote the query, and with it the keyset's literal (a row's key):
    // it is not repeated; only the definition's own names it mentions are.
    const named = namesIn(e.message, [def.source.object, ...sourceColumns(def)]);
    return new LoadError(
      'SourceQueryRejected',
      `Data Cloud rejected a query on ${def.source.object} (HTTP ${e.status} ${e.errorCode})${named.length ? `; the org's message names ${named.join(', ')}` : ''}.`,
      ['Check source.object, source.keyColumn, source.parentColumn, the mapped columns and source.filter against the Data Cloud object (API names are case-sensitive).']
    ).withDetail(e.message);
  }
  return e;
}

/** The names among `names` that `message` mentions (as whole words, any case). */
export function namesIn(message: string, names: string[]): string[] {
  const lower = message.toLowerCase();
  const out: string[] = [];
  for (const n of new Set(names)) {
    const i = lower.indexOf(n.toLowerCase());
    if (i < 0) continue;
    const before = lower[i - 1];
    const after = lower[i + n.length];
    const word = (c: string | undefined): boolean => c !== undefined && /[a-z0-9_]/.test(c);
    if (!word(before) && !word(after)) out.push(n);
  }
  return out;
}

/** An org's message with quoted literals blanked: they may quote the query, and with it row values. */
export function withoutValues(message: string): string {
  return message.replace(/'(?:[^']|'')*'/g, "'…'");
}

/** Where an expired session is met ('run': a session under way; else the command, before its first job): what to do after logging in again. */
export type AfterLogin = 'run' | 'plan' | 'start' | 'resume' | 'retry-failures';

const AFTER_LOGIN: Record<AfterLogin, string> = {
  run: 'then resume the run (the command is printed below)',
  plan: 'then plan again',
  start: 'then start again (no run was created)',
  resume: 'then run the same resume command again',
  'retry-failures': 'then run retry-failures again',
};

export function sessionExpired(then: AfterLogin = 'run'): LoadError {
  return new LoadError('SessionExpired', 'The org rejected the session (INVALID_SESSION_ID): the access token expired or was revoked.', [
    `Log in again, e.g. "sf org login web --alias <alias>" or "sf org login access-token", ${AFTER_LOGIN[then]}.`,
  ]);
}

/**
 * An error while planning (describe, the probe, the counts, the partition bounds) or while
 * a resume or retry-failures checks the target, as a LoadError that names the problem: an
 * expired session says to log in again; an exhausted allocation says to wait; any other
 * failed call names its HTTP status and error code, not the org's message (which may quote
 * the query, and with it row values).
 */
export function planningError(err: unknown, then: AfterLogin): Error {
  if (err instanceof LoadError) return err.code === 'SessionExpired' ? sessionExpired(then) : err;
  if (!(err instanceof SalesforceApiError)) return err instanceof Error ? err : new Error(String(err)); // not the org's: as it is
  const e = err;
  if (e.status === 401 || e.errorCode === 'INVALID_SESSION_ID') return sessionExpired(then);
  const again = AFTER_LOGIN[then];
  if (e.quota) {
    return new LoadError('LimitsExhausted', `The org refused more requests (${e.errorCode}${e.status ? `, HTTP ${e.status}` : ''}).`, [
      `Wait for the daily allocation to recover (rolling 24 h), ${again}.`,
    ]).withDetail(e.message);
  }
  return new LoadError('ApiError', `A call to the org failed while checking the target and the source (${e.errorCode}${e.status ? `, HTTP ${e.status}` : ''}${e.transient ? ', still failing after retries' : ''}).`, [
    e.transient ? `The org or the network is having trouble: wait a few minutes, ${again}.` : `Check the org, the user's permissions and the definition, ${again}.`,
  ]).withDetail(e.message);
}

function suggest(name: string, fields: FieldDescribe[]): string {
  const lower = name.toLowerCase().replace(/__c$/, '');
  const close = fields
    .map((f) => f.name)
    .filter((n) => n.toLowerCase().includes(lower.slice(0, 4)) || lower.includes(n.toLowerCase().replace(/__c$/, '')))
    .slice(0, 5);
  return close.length ? `Similar fields: ${close.join(', ')}.` : '';
}
