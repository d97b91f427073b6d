/*
 * `plan`: check the definition against the org before anything is written (target object
 * and fields by describe, source object and columns by a probe query, Data Cloud
 * provisioned), count the rows, cut partitions and estimate what the run will spend.
 */
import type { Connection } from '@salesforce/core';
import type { LoadDefinition, LoadPlan, PlanPartition, KeyValue } from '../state/types.js';
import { describeSObject, getLimits, type FieldDescribe, type SObjectDescribe } from '../core/org-api.js';
import { toApiError } from '../core/errors.js';
import type { DataCloudClient } from '../source/datacloud-client.js';
import { quoteIdent } from '../source/sql.js';
import { sourceColumns } from './definition.js';
import { LoadError } from './errors.js';

/** The platform's skew threshold: more children than this under one parent is a warning. */
export const SKEW_THRESHOLD = 10_000;
/** Rows per Bulk API internal batch. */
export const INTERNAL_BATCH_ROWS = 10_000;
/** Rows per transaction inside an internal batch. */
export const CHUNK_ROWS = 200;

export type TargetInfo = {
  describe: SObjectDescribe;
  /** Target field path → field type used to convert values ("string" for parent references). */
  fieldTypes: Record<string, string>;
};

/** Check the target object and every mapped field. */
export async function checkTarget(conn: Connection, def: LoadDefinition): Promise<TargetInfo> {
  const describe = await describeSObject(conn, def.target.object);
  if (!describe) {
    throw new LoadError('UnknownTargetObject', `The org has no sObject named ${def.target.object}.`, [
      'Check target.object (API name, e.g. Opportunity or My_Object__c) and that your user can see it.',
    ]);
  }
  const byName = new Map(describe.fields.map((f) => [f.name.toLowerCase(), f]));
  const ext = byName.get(def.target.externalIdField.toLowerCase());
  if (!ext) {
    throw new LoadError('UnknownTargetField', `${def.target.object} has no field ${def.target.externalIdField}.`, [
      `Set target.externalIdField to an External ID field of ${def.target.object}. ${suggest(def.target.externalIdField, describe.fields)}`,
    ]);
  }
  if (!ext.externalId && !ext.idLookup) {
    throw new LoadError('NotAnExternalId', `${def.target.object}.${ext.name} is not an External ID field, so rows can't be upserted by it.`, [
      `Mark ${ext.name} as External ID in Setup, or choose another field.`,
    ]);
  }
  const fieldTypes: Record<string, string> = {};
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
      const parent = parentObject ? await describeSObject(conn, parentObject) : undefined;
      const pf = parent?.fields.find((f) => f.name.toLowerCase() === field.toLowerCase());
      if (!pf || (!pf.externalId && !pf.idLookup)) {
        throw new LoadError('UnknownTargetField', `${parentObject ?? rel}.${field} is not an External ID field, so "${target}" can't reference a parent.`, [
          `Use an External ID field of ${parentObject ?? rel}.`,
        ]);
      }
      fieldTypes[target] = 'string';
    } else {
      const f = byName.get(target.toLowerCase());
      if (!f) {
        throw new LoadError('UnknownTargetField', `${def.target.object} has no field ${target}.`, [
          `Fix target.mapping. ${suggest(target, describe.fields)}`,
        ]);
      }
      if (!f.createable && !f.updateable && f.name.toLowerCase() !== ext.name.toLowerCase()) {
        throw new LoadError('ReadOnlyTargetField', `${def.target.object}.${f.name} can't be written.`, ['Remove it from target.mapping.']);
      }
      fieldTypes[target] = f.type;
    }
  }
  return { describe, fieldTypes };
}

/** Probe the source with one row: object, columns, provisioning. */
export async function checkSource(dc: DataCloudClient, def: LoadDefinition): Promise<void> {
  const cols = sourceColumns(def);
  const sql = `SELECT ${cols.map(quoteIdent).join(', ')} FROM ${quoteIdent(def.source.object)}${where([def.source.filter])} LIMIT 1`;
  await dcQuery(dc, sql, def);
}

export async function buildPlan(conn: Connection, dc: DataCloudClient, def: LoadDefinition): Promise<LoadPlan> {
  await checkTarget(conn, def);
  await checkSource(dc, def);
  const table = quoteIdent(def.source.object);
  const filter = def.source.filter;
  const countRes = await dcQuery(dc, `SELECT COUNT(*) AS ${quoteIdent('n')} FROM ${table}${where([filter])}`, def);
  const totalRows = Number(Object.values(countRes.rows[0] ?? {})[0] ?? 0);
  if (!totalRows) {
    throw new LoadError('EmptySource', `${def.source.object} has no rows${filter ? ' matching the filter' : ''}; there is nothing to load.`, [
      filter ? 'Check source.filter.' : 'Check source.object and the data space.',
    ]);
  }
  const p = def.pacing;
  const warnings: string[] = [];
  const byParent = p.partitionBy === 'parent' && def.source.parentColumn !== undefined;
  if (p.partitionBy === 'parent' && !def.source.parentColumn) {
    warnings.push('No source.parentColumn: partitions are cut by key range, so children of one parent may sit in jobs that run at the same time. Name the parent column to avoid lock contention.');
  }
  const rowsPerJob = p.rowsPerJob === 'auto' ? autoRowsPerJob(totalRows, p.maxConcurrency) : p.rowsPerJob;
  const wanted = p.partitions === 'auto' ? Math.max(1, Math.ceil(totalRows / rowsPerJob)) : p.partitions;

  let partitions: PlanPartition[];
  const skewedParents: LoadPlan['skewedParents'] = [];
  if (byParent) {
    const parent = def.source.parentColumn!;
    const groups = await dcQuery(
      dc,
      `SELECT ${quoteIdent(parent)}, COUNT(*) AS ${quoteIdent('n')} FROM ${table}${where([filter])} GROUP BY ${quoteIdent(parent)} ORDER BY ${quoteIdent(parent)}`,
      def
    );
    const counts = groups.rows.map((r) => ({ parent: r[parent] as KeyValue | null, rows: Number(r.n ?? Object.values(r)[1]) }));
    const nulls = counts.find((c) => c.parent === null || c.parent === undefined);
    if (nulls) {
      throw new LoadError('NullParents', `${nulls.rows} rows of ${def.source.object} have no ${parent} value, so they can't be grouped by parent.`, [
        `Exclude them with source.filter ("${parent}" IS NOT NULL) and load them in a separate run with "partitionBy": "key".`,
      ]);
    }
    for (const c of counts) if (c.rows > SKEW_THRESHOLD) skewedParents.push({ parent: c.parent!, rows: c.rows });
    partitions = cutByParent(counts as Array<{ parent: KeyValue; rows: number }>, wanted, totalRows, p.partitions === 'auto' ? rowsPerJob : undefined);
  } else {
    partitions = await cutByKey(dc, def, totalRows, wanted);
  }
  partitions.forEach((part, i) => (part.startOffsetSeconds = i * p.staggerSeconds));
  if (skewedParents.length) {
    warnings.push(
      `${skewedParents.length} parent(s) have more than ${SKEW_THRESHOLD.toLocaleString('en-US')} children (largest: ${skewedParents
        .sort((a, b) => b.rows - a.rows)[0]
        .rows.toLocaleString('en-US')}). Their rows load in consecutive jobs of one partition, never at the same time.`
    );
  }

  const jobs = partitions.reduce((n, part) => n + Math.ceil(part.rows / rowsPerJob), 0);
  const internalBatches = partitions.reduce((n, part) => {
    const full = Math.floor(part.rows / rowsPerJob);
    const rest = part.rows % rowsPerJob;
    return n + full * Math.ceil(rowsPerJob / INTERNAL_BATCH_ROWS) + (rest ? Math.ceil(rest / INTERNAL_BATCH_ROWS) : 0);
  }, 0);
  // create + upload + close + ~4 polls + 2-3 result downloads per job, plus the source pages.
  const apiCalls = jobs * 10 + jobs * 2;
  const limits: LoadPlan['estimates']['limits'] = {};
  try {
    const l = await getLimits(conn);
    if (l.DailyApiRequests) limits.DailyApiRequests = { remaining: l.DailyApiRequests.Remaining, needed: apiCalls };
    if (l.DailyBulkApiBatches) limits.DailyBulkApiBatches = { remaining: l.DailyBulkApiBatches.Remaining, needed: internalBatches };
    for (const [name, v] of Object.entries(limits)) {
      if (v.needed > v.remaining) warnings.push(`${name}: the run needs about ${v.needed} but the org has ${v.remaining} left today.`);
    }
  } catch (err) {
    warnings.push(`Could not read /limits (${toApiError(err).message}).`);
  }
  return {
    createdAt: new Date().toISOString(),
    totalRows,
    rowsPerJob,
    keyColumns: byParent ? [def.source.parentColumn!, def.source.keyColumn] : [def.source.keyColumn],
    partitionColumn: byParent ? def.source.parentColumn! : def.source.keyColumn,
    partitions,
    skewedParents: skewedParents.slice(0, 50),
    warnings,
    estimates: { jobs, internalBatches, apiCalls, limits },
    queryApi: dc.apiInUse,
  };
}

/**
 * Auto job size: one internal batch at most (10,000 rows), but small enough that the load
 * spreads over every job slot the run may use, rounded up to whole 200-row transactions.
 */
export function autoRowsPerJob(totalRows: number, maxConcurrency: number): number {
  const spread = Math.ceil(totalRows / Math.max(1, maxConcurrency) / CHUNK_ROWS) * CHUNK_ROWS;
  return Math.max(CHUNK_ROWS, Math.min(INTERNAL_BATCH_ROWS, spread));
}

/**
 * Cut at parent boundaries. With `maxRows` (auto partitions) a cut comes before the parent
 * that would make a partition exceed it, so partitions fill whole jobs and leave no small
 * tail job; a parent larger than that forms its own partition. Without it, greedy cuts
 * give exactly `wanted` partitions of similar size.
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
  if (acc > 0) cut(null);
  else if (out.length) out[out.length - 1].upperInclusive = null;
  return out;
}

/** Key-range partitions of equal size, found by probing the key at row offsets. */
async function cutByKey(dc: DataCloudClient, def: LoadDefinition, total: number, wanted: number): Promise<PlanPartition[]> {
  const n = Math.max(1, Math.min(wanted, total));
  const key = quoteIdent(def.source.keyColumn);
  const bounds: KeyValue[] = [];
  for (let i = 1; i < n; i++) {
    const offset = Math.floor((i * total) / n) - 1;
    const res = await dcQuery(dc, `SELECT ${key} FROM ${quoteIdent(def.source.object)}${where([def.source.filter])} ORDER BY ${key} LIMIT 1 OFFSET ${offset}`, def);
    const v = res.rows[0]?.[def.source.keyColumn] as KeyValue | undefined;
    if (v === undefined || v === null) break;
    bounds.push(v);
  }
  const out: PlanPartition[] = [];
  let lower: KeyValue | null = null;
  for (let i = 0; i <= bounds.length; i++) {
    const upper = i < bounds.length ? bounds[i] : null;
    const rows = Math.floor(((i + 1) * total) / n) - Math.floor((i * total) / n);
    out.push({ index: i, lowerExclusive: lower, upperInclusive: upper, rows, startOffsetSeconds: 0 });
    lower = upper;
  }
  return out;
}

export function where(preds: Array<string | undefined>): string {
  const p = preds.filter((x): x is string => Boolean(x && x.trim()));
  return p.length ? ` WHERE ${p.map((x) => `(${x})`).join(' AND ')}` : '';
}

/** Run a Data Cloud query, turning its errors into LoadErrors that name the problem. */
export async function dcQuery(dc: DataCloudClient, sql: string, def: LoadDefinition): ReturnType<DataCloudClient['query']> {
  try {
    return await dc.query(sql);
  } catch (err) {
    const e = toApiError(err);
    if (e.errorCode === 'DATA_CLOUD_NOT_PROVISIONED' || /cdp tenant id/i.test(e.message)) {
      throw new LoadError('DataCloudNotProvisioned', 'Data Cloud is not provisioned in this org (Couldn\'t find CDP tenant ID).', [
        'Check that --target-org is the org where Data Cloud is set up (Data Cloud Setup shows its tenant).',
      ]);
    }
    if (e.status === 401 || e.errorCode === 'INVALID_SESSION_ID') throw sessionExpired();
    if (e.status && e.status >= 400 && e.status < 500) {
      throw new LoadError('SourceQueryRejected', `Data Cloud rejected the query on ${def.source.object}: ${e.message}`, [
        'Check source.object, source.keyColumn, source.parentColumn, the mapped columns and source.filter against the Data Cloud object (API names are case-sensitive).',
      ], { sql: sql.slice(0, 500) });
    }
    throw e;
  }
}

export function sessionExpired(): LoadError {
  return new LoadError('SessionExpired', 'The org rejected the session (INVALID_SESSION_ID): the access token expired or was revoked.', [
    'Log in again, e.g. "sf org login web --alias <alias>" or "sf org login access-token", then run "sf datacloud load resume".',
  ]);
}

function suggest(name: string, fields: FieldDescribe[]): string {
  const lower = name.toLowerCase().replace(/__c$/, '');
  const close = fields
    .map((f) => f.name)
    .filter((n) => n.toLowerCase().includes(lower.slice(0, 4)) || lower.includes(n.toLowerCase().replace(/__c$/, '')))
    .slice(0, 5);
  return close.length ? `Similar fields: ${close.join(', ')}.` : '';
}

