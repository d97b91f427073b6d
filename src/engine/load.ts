/*
 * The engine's entry points, one per command that acts on the org: plan, start, resume,
 * retry-failures. Each takes a Connection and returns plain data; none prints.
 */
import type { Connection } from '@salesforce/core';
import { StateAggregator } from '@salesforce/core';
import { DataCloudClient } from '../source/datacloud-client.js';
import { BulkIngestClient } from '../sink/bulk-client.js';
import { getLimits, getUserId, requestsSent } from '../core/org-api.js';
import { RunDir, runsRoot } from '../state/run-dir.js';
import { RUN_SCHEMA_VERSION, type LoadDefinition, type RunManifest } from '../state/types.js';
import { readLedger } from '../ledger/read.js';
import type { LedgerFold } from '../ledger/fold.js';
import type { ProgressSnapshot } from '../ledger/status-types.js';
import { lockAlive, readLock } from '../state/run-lock.js';
import { buildPlan, checkTarget, planningError, type AfterLogin, type PlanResult } from './planner.js';
import { LoadSession, type EngineDeps, type EngineOutcome } from './runner.js';
import { LoadError } from './errors.js';
import { httpRetry, type Retrying } from './http-retry.js';
import { systemClock } from './clock.js';
import { currentFailures, planFailureRetries, selectRows } from './failures-retry.js';

export type RunHooks = {
  signal?: AbortSignal;
  onProgress?: (s: ProgressSnapshot) => void;
  onRunCreated?: (run: RunDir, m: RunManifest) => void;
  onFound?: (found: EngineOutcome['resumed']) => void;
};

/** A planning step's errors as LoadErrors that name the problem (an expired session: log in again, then `then`). */
async function planning<T>(then: AfterLogin, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    throw planningError(err, then);
  }
}

function retryPolicy(): Retrying {
  return httpRetry({ clock: systemClock });
}

export function engineDeps(conn: Connection, def: LoadDefinition, retry = retryPolicy()): EngineDeps {
  const userId = async (): Promise<string | undefined> => {
    try {
      return conn.getAuthInfoFields().userId ?? (await retry(() => getUserId(conn), 'userinfo'));
    } catch {
      return undefined;
    }
  };
  return {
    dc: new DataCloudClient(conn, { ...(def.source.dataspace ? { dataspace: def.source.dataspace } : {}), workloadName: 'sf-datacloud-load', retry }),
    bulk: new BulkIngestClient(conn),
    limits: () => getLimits(conn),
    userId,
    requestsSent: () => requestsSent(conn),
  };
}

export async function planLoad(conn: Connection, def: LoadDefinition): Promise<PlanResult> {
  const retry = retryPolicy();
  return planning('plan', () => buildPlan({ conn, dc: engineDeps(conn, def, retry).dc, retry }, def));
}

export type StartResult = { run: RunDir; manifest: RunManifest; outcome: EngineOutcome };

export async function startLoad(conn: Connection, def: LoadDefinition, opts: RunHooks & { runsDir?: string; definitionFile?: string }): Promise<StartResult> {
  const retry = retryPolicy();
  const deps = engineDeps(conn, def, retry);
  const { plan, duplicateKeys, target } = await planning('start', () => buildPlan({ conn, dc: deps.dc, retry }, def));
  for (const [name, v] of Object.entries(plan.estimates.limits)) {
    if (v.needed > v.remaining) {
      throw new LoadError('LimitsExhausted', `${name}: the run needs about ${v.needed} but the org has ${v.remaining} left today.`, [
        'Wait for the rolling 24 h allocation, load fewer rows (source.filter), or use larger jobs (--rows-per-job, up to 10,000).',
      ]);
    }
  }
  // The run keeps the job size it was planned with, even if the profile's default changes.
  def = { ...def, pacing: { ...def.pacing, rowsPerJob: plan.rowsPerJob } };
  const run = RunDir.create(runsRoot(opts.runsDir));
  const now = new Date().toISOString();
  const username = conn.getUsername();
  const manifest: RunManifest = {
    schemaVersion: RUN_SCHEMA_VERSION,
    runId: run.runId,
    kind: 'load',
    createdAt: now,
    updatedAt: now,
    state: 'planned',
    org: { username, ...(await aliasOf(username)), orgId: orgIdOf(conn), instanceUrl: conn.instanceUrl, apiVersion: conn.getApiVersion() },
    ...(opts.definitionFile ? { definitionFile: opts.definitionFile } : {}),
    definition: def,
    plan,
    sessions: [],
  };
  if (duplicateKeys.length) run.writeDuplicates(duplicateKeys);
  run.writeManifest(manifest);
  run.event({ level: 'info', type: 'planned', message: `${plan.totalRows} rows in ${plan.partitions.length} partitions` });
  opts.onRunCreated?.(run, manifest);
  const outcome = await new LoadSession(deps, { run, command: 'start', target, signal: opts.signal, onProgress: opts.onProgress }).runSession();
  return { run, manifest: run.readManifest(), outcome };
}

async function aliasOf(username: string | undefined): Promise<{ alias?: string }> {
  if (!username) return {};
  try {
    const state = await StateAggregator.getInstance();
    const alias = state.aliases.getAll(username)[0];
    return alias ? { alias } : {};
  } catch {
    return {};
  }
}

/** Open a run to continue it: it must belong to this org and have no live runner. */
export function openForContinue(runsDir: string | undefined, runId: string | undefined, conn: Connection): { run: RunDir; manifest: RunManifest; fold: LedgerFold } {
  const run = RunDir.open(runsRoot(runsDir), runId);
  const { manifest, fold } = readLedger(run);
  const orgId = orgIdOf(conn);
  if (manifest.org.orgId && orgId && manifest.org.orgId.slice(0, 15) !== orgId.slice(0, 15)) {
    throw new LoadError('WrongOrg', `Run ${run.runId} loads into org ${manifest.org.orgId} (${manifest.org.username ?? 'unknown user'}), not ${orgId}.`, [
      `Pass -o ${manifest.org.alias ?? manifest.org.username ?? "<the run's org>"}.`,
    ]);
  }
  const lock = readLock(run.lockFile);
  if (lockAlive(lock)) {
    throw new LoadError('RunInProgress', `Run ${run.runId} is still running (${lock!.command}, pid ${lock!.pid} on ${lock!.host}).`, [
      `Follow it with "sf datacloud load status --run-id ${run.runId} --wait", or stop it with "sf datacloud load cancel --run-id ${run.runId}".`,
    ]);
  }
  return { run, manifest, fold };
}

/** Every source row read and none pending: nothing for a resume to do. */
export function ledgerFinished(fold: LedgerFold): boolean {
  return fold.partitions.every((p) => p.exhausted) && fold.totals.pending === 0 && fold.unfinished().every((e) => e.kind === 'reject');
}

export async function resumeLoad(conn: Connection, opts: RunHooks & { runsDir?: string; runId?: string }): Promise<StartResult> {
  const { run, manifest, fold } = openForContinue(opts.runsDir, opts.runId, conn);
  if (ledgerFinished(fold) && (manifest.state === 'completed' || manifest.state === 'incomplete')) {
    throw new LoadError('NothingToResume', `Run ${run.runId} is already ${manifest.state}: every source row was read and has its outcome.`, [
      `See it with "sf datacloud load report --run-id ${run.runId}"; send its failed rows again with "sf datacloud load retry-failures -o ${manifest.org.alias ?? manifest.org.username ?? '<org>'} --run-id ${run.runId}".`,
    ]);
  }
  const retry = retryPolicy();
  const target = await planning('resume', () => checkTarget({ conn, retry }, manifest.definition));
  opts.onRunCreated?.(run, manifest);
  const outcome = await new LoadSession(engineDeps(conn, manifest.definition, retry), { run, command: 'resume', target, signal: opts.signal, onProgress: opts.onProgress, onFound: opts.onFound }).runSession();
  return { run, manifest: run.readManifest(), outcome };
}

export type RetryFailuresOptions = RunHooks & { runsDir?: string; runId?: string; errorCodes?: string[]; useStoredRows?: boolean; chunkSize?: number };

export type RetryFailuresResult = StartResult & {
  /** Failed rows chosen by the flags. */
  selected: number;
  /** Of them, sent again in failures-retry jobs. */
  sent: number;
  /** Of them, not sent: no longer in the source, or still not convertible (they stay failed, unchanged). */
  unchanged: number;
  /** This session only finished the failures-retry jobs an interrupted retry-failures left. */
  resumedInterrupted: boolean;
};

export async function retryFailures(conn: Connection, opts: RetryFailuresOptions): Promise<RetryFailuresResult> {
  const { run, manifest, fold } = openForContinue(opts.runsDir, opts.runId, conn);
  const def = manifest.definition;
  const unfinished = fold.unfinished().filter((e) => e.kind !== 'reject');
  const interrupted = unfinished.length > 0 && unfinished.every((e) => e.kind === 'failures-retry');
  if (!interrupted && !ledgerFinished(fold)) {
    throw new LoadError('RunNotFinished', `Run ${run.runId} has rows that are not read or not final yet (${fold.totals.pending.toLocaleString('en-US')} pending): retry-failures works on a finished run.`, [
      `Finish it first: sf datacloud load resume -o ${manifest.org.alias ?? manifest.org.username ?? '<org>'} --run-id ${run.runId}`,
    ]);
  }
  const retry = retryPolicy();
  const deps = engineDeps(conn, def, retry);
  const target = await planning('retry-failures', () => checkTarget({ conn, retry }, def));
  let selected = 0;
  let sent = 0;
  let unchanged = 0;
  let prepare: ConstructorParameters<typeof LoadSession>[1]['prepare'];
  if (!interrupted) {
    const codes = opts.errorCodes?.map((c) => c.toUpperCase());
    const failed = currentFailures(run, fold).filter((f) => f.retryable && (!codes || codes.includes(f.code.toUpperCase())));
    selected = failed.length;
    const sel = await planning('retry-failures', () => selectRows({ deps, def, plan: manifest.plan, target, failed, useStoredRows: opts.useStoredRows === true, chunk: opts.chunkSize ?? 500 }));
    sent = sel.rows.length;
    unchanged = selected - sent;
    prepare = ({ writer, layout }) => planFailureRetries(writer, layout, manifest, sel.rows);
  }
  opts.onRunCreated?.(run, manifest);
  const outcome = await new LoadSession(deps, { run, command: 'retry-failures', target, signal: opts.signal, onProgress: opts.onProgress, onFound: opts.onFound, ...(prepare ? { prepare } : {}) }).runSession();
  return { run, manifest: run.readManifest(), outcome, selected, sent, unchanged, resumedInterrupted: interrupted };
}

function orgIdOf(conn: Connection): string | undefined {
  try {
    return conn.getAuthInfoFields().orgId;
  } catch {
    return undefined;
  }
}
