/*
 * The engine's entry points, one per command that acts on the org: plan, start, resume,
 * retry-failures. Each takes a Connection and returns plain data; none prints.
 */
import type { Connection } from '@salesforce/core';
import { hostname } from 'node:os';
import { DataCloudClient } from '../source/datacloud-client.js';
import { buildInQuery } from '../source/sql.js';
import { BulkIngestClient } from '../sink/bulk-client.js';
import { convertValue } from '../sink/csv.js';
import { getLimits } from '../core/org-api.js';
import { RunDir, currentFailures, runsRoot, type FailedRow } from '../state/run-dir.js';
import { RUN_SCHEMA_VERSION, type JobRow, type KeyValue, type LoadDefinition, type LoadPlan, type RunManifest } from '../state/types.js';
import { buildPlan, checkTarget, dcQuery } from './planner.js';
import { LoadEngine, type EngineDeps, type EngineOutcome, type ProgressSnapshot } from './runner.js';
import { LoadError } from './errors.js';
import { sourceColumns } from './definition.js';

export type RunHooks = { signal?: AbortSignal; onProgress?: (s: ProgressSnapshot) => void; onRunCreated?: (run: RunDir, m: RunManifest) => void };

export function engineDeps(conn: Connection, def: LoadDefinition): EngineDeps {
  return {
    dc: new DataCloudClient(conn, { ...(def.source.dataspace ? { dataspace: def.source.dataspace } : {}) }),
    bulk: new BulkIngestClient(conn),
    limits: () => getLimits(conn),
  };
}

export async function planLoad(conn: Connection, def: LoadDefinition): Promise<LoadPlan> {
  return buildPlan(conn, engineDeps(conn, def).dc, def);
}

export type StartResult = { run: RunDir; manifest: RunManifest; outcome: EngineOutcome };

export async function startLoad(conn: Connection, def: LoadDefinition, opts: RunHooks & { runsDir?: string; definitionFile?: string }): Promise<StartResult> {
  const deps = engineDeps(conn, def);
  const plan = await buildPlan(conn, deps.dc, def);
  const { fieldTypes } = await checkTarget(conn, def);
  for (const [name, v] of Object.entries(plan.estimates.limits)) {
    if (v.needed > v.remaining) {
      throw new LoadError('LimitsExhausted', `${name}: the run needs about ${v.needed} but the org has ${v.remaining} left today.`, [
        'Wait for the rolling 24 h allocation, or load fewer rows (source.filter), or use larger jobs (--rows-per-job).',
      ]);
    }
  }
  // The run keeps the job size it was planned with, even if the profile's default changes.
  def = { ...def, pacing: { ...def.pacing, rowsPerJob: plan.rowsPerJob } };
  const run = RunDir.create(runsRoot(opts.runsDir));
  const now = new Date().toISOString();
  const manifest: RunManifest = {
    schemaVersion: RUN_SCHEMA_VERSION,
    runId: run.runId,
    kind: 'load',
    createdAt: now,
    updatedAt: now,
    state: 'planned',
    org: { username: conn.getUsername(), orgId: orgIdOf(conn), instanceUrl: conn.instanceUrl, apiVersion: conn.getApiVersion() },
    ...(opts.definitionFile ? { definitionFile: opts.definitionFile } : {}),
    definition: def,
    plan,
    sessions: [],
  };
  run.writeManifest(manifest);
  for (const p of plan.partitions) {
    run.writeCheckpoint({ schemaVersion: RUN_SCHEMA_VERSION, index: p.index, state: 'pending', after: null, readRows: 0, exhausted: false, updatedAt: now });
  }
  run.event({ level: 'info', type: 'planned', message: `${plan.totalRows} rows in ${plan.partitions.length} partitions` });
  opts.onRunCreated?.(run, manifest);
  const outcome = await new LoadEngine(deps, { run, command: 'start', fieldTypes, signal: opts.signal, onProgress: opts.onProgress }).run();
  return { run, manifest: run.readManifest(), outcome };
}

/** Open a run to continue it: it must belong to this org and have no live runner. */
export function openForContinue(runsDir: string | undefined, runId: string | undefined, conn: Connection): { run: RunDir; manifest: RunManifest } {
  const run = RunDir.open(runsRoot(runsDir), runId);
  const manifest = run.readManifest();
  const orgId = orgIdOf(conn);
  if (manifest.org.orgId && orgId && manifest.org.orgId.slice(0, 15) !== orgId.slice(0, 15)) {
    throw new LoadError('WrongOrg', `Run ${run.runId} loads into org ${manifest.org.orgId} (${manifest.org.username ?? 'unknown user'}), not ${orgId}.`, [
      `Pass --target-org ${manifest.org.username ?? '<the run\'s org>'}.`,
    ]);
  }
  if ((manifest.state === 'running' || manifest.state === 'stopping') && run.runnerAlive()) {
    const hb = run.readHeartbeat();
    throw new LoadError('RunInProgress', `Run ${run.runId} is still running (pid ${hb?.pid} on ${hb?.host ?? hostname()}).`, [
      `Follow it with "sf datacloud load status --run-id ${run.runId} --wait", or stop it with "sf datacloud load cancel --run-id ${run.runId}".`,
    ]);
  }
  return { run, manifest };
}

export async function resumeLoad(conn: Connection, opts: RunHooks & { runsDir?: string; runId?: string }): Promise<StartResult> {
  const { run, manifest } = openForContinue(opts.runsDir, opts.runId, conn);
  if (manifest.state === 'completed') {
    throw new LoadError('NothingToResume', `Run ${run.runId} is already complete.`, [
      `See it with "sf datacloud load report --run-id ${run.runId}"; retry its failed rows with "sf datacloud load retry-failures --run-id ${run.runId}".`,
    ]);
  }
  const { fieldTypes } = await checkTarget(conn, manifest.definition);
  opts.onRunCreated?.(run, manifest);
  const outcome = await new LoadEngine(engineDeps(conn, manifest.definition), {
    run,
    command: 'resume',
    fieldTypes,
    signal: opts.signal,
    onProgress: opts.onProgress,
  }).run();
  return { run, manifest: run.readManifest(), outcome };
}

export type RetryFailuresOptions = RunHooks & { runsDir?: string; runId?: string; errorCodes?: string[]; useStoredRows?: boolean; chunkSize?: number };

export async function retryFailures(conn: Connection, opts: RetryFailuresOptions): Promise<StartResult & { selected: number }> {
  const { run, manifest } = openForContinue(opts.runsDir, opts.runId, conn);
  const def = manifest.definition;
  const codes = opts.errorCodes?.map((c) => c.toUpperCase());
  const failures = currentFailures(run.readFailures()).filter((f) => !codes || codes.includes(f.code.toUpperCase()));
  const { fieldTypes } = await checkTarget(conn, def);
  const deps = engineDeps(conn, def);
  let rows: JobRow[];
  if (opts.useStoredRows) {
    rows = failures.map((f) => ({ key: f.key, ...(f.parent !== undefined ? { parent: f.parent } : {}), attempt: 1, values: f.row, lastError: { code: f.code, message: f.message } }));
  } else {
    rows = await rereadByKey(deps, def, failures, fieldTypes, opts.chunkSize ?? 500);
  }
  // Group by parent so one parent's rows stay in one partition's sequential jobs.
  const byPartition = new Map<number, JobRow[]>();
  const failurePartition = new Map(failures.map((f) => [String(f.key), f.partition]));
  for (const r of rows) {
    const p = failurePartition.get(String(r.key)) ?? 0;
    if (!byPartition.has(p)) byPartition.set(p, []);
    byPartition.get(p)!.push(r);
  }
  const groups = [...byPartition.entries()].map(([partition, g]) => ({
    partition,
    rows: g.sort((a, b) => String(a.parent ?? '').localeCompare(String(b.parent ?? '')) || String(a.key).localeCompare(String(b.key))),
  }));
  opts.onRunCreated?.(run, manifest);
  const outcome = await new LoadEngine(deps, { run, command: 'retry-failures', fieldTypes, signal: opts.signal, onProgress: opts.onProgress, failureRows: groups }).run();
  return { run, manifest: run.readManifest(), outcome, selected: rows.length };
}

/** Re-read failed rows' current values from Data Cloud by key, in chunks, keys quoted safely. */
async function rereadByKey(
  deps: EngineDeps,
  def: LoadDefinition,
  failures: FailedRow[],
  fieldTypes: Record<string, string>,
  chunk: number
): Promise<JobRow[]> {
  const out: JobRow[] = [];
  const prev = new Map(failures.map((f) => [String(f.key), f]));
  for (let i = 0; i < failures.length; i += chunk) {
    const keys = failures.slice(i, i + chunk).map((f) => f.key as KeyValue);
    const sql = buildInQuery({ table: def.source.object, columns: sourceColumns(def), keyColumn: def.source.keyColumn, keys, filter: def.source.filter });
    const res = await dcQuery(deps.dc, sql, def);
    for (const r of res.rows) {
      const key = r[def.source.keyColumn] as KeyValue;
      const values: Record<string, string | null> = {};
      for (const [src, target] of Object.entries(def.target.mapping)) {
        const conv = convertValue(r[src], fieldTypes[target] ?? 'string');
        values[target] = conv.ok ? conv.value : null;
      }
      const f = prev.get(String(key));
      const parent = def.source.parentColumn ? (r[def.source.parentColumn] as KeyValue) : undefined;
      out.push({ key, ...(parent !== undefined && parent !== null ? { parent } : {}), attempt: 1, values, ...(f ? { lastError: { code: f.code, message: f.message } } : {}) });
    }
  }
  return out;
}

function orgIdOf(conn: Connection): string | undefined {
  try {
    return conn.getAuthInfoFields().orgId;
  } catch {
    return undefined;
  }
}
