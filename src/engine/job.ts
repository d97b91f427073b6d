/*
 * One Bulk API 2.0 job's life: create → one upload → close → poll → result files. Each
 * step is recorded in the ledger before the next (the intent before the create, the org
 * job id before the upload), and no step that is not idempotent is repeated blindly:
 *   create  a failed create may have made a job: the org's job list is asked (our user,
 *           object, Open, created in the create's window: orphans.ts) and such a job is adopted;
 *   upload  a second PUT is refused by the org ("Found multiple contents"): after a lost
 *           answer, that refusal means the first one landed;
 *   close   after a lost answer, the job's state says whether the close landed.
 * A job left from an earlier session is asked where it stands first. The job's lineEnding is
 * its CSV's (CRLF for rows whose values hold CRLF, see reader.ts). The job's results are
 * handed back raw; what they mean is recorder.ts's business.
 */
import type { BulkIngestClient, JobInfo } from '../sink/bulk-client.js';
import { TERMINAL_STATES } from '../sink/bulk-client.js';
import { csvLineEnding } from '../sink/csv.js';
import { toApiError } from '../core/errors.js';
import { LoadError } from './errors.js';
import type { LedgerSink } from '../ledger/writer.js';
import type { LoadDefinition, PacingSettings } from '../state/types.js';
import type { JobEntry } from '../ledger/fold.js';
import type { Clock } from './clock.js';
import type { ConcurrencyController, ObservedState } from './concurrency.js';
import type { Retrying } from './http-retry.js';
import type { OrphanFinder } from './orphans.js';
import { crashPoint } from './crash-points.js';

export type JobContext = {
  bulk: BulkIngestClient;
  run: LedgerSink;
  retry: Retrying;
  clock: Clock;
  controller: ConcurrencyController;
  def: LoadDefinition;
  pacing: PacingSettings;
  orphans: OrphanFinder;
  /** Aborts when the run stops: the job is left in flight, recorded, for resume. */
  signal: AbortSignal;
  /** Every HTTP call the job makes (attempts included). */
  onCall: () => void;
};

export type Drive =
  | { kind: 'results'; info: JobInfo; okCsv: string; failCsv: string; calls: number; seconds: number }
  | { kind: 'unreadable'; info: JobInfo; error: string; calls: number; seconds: number }
  /** The org refused one of the job's calls, attempt after attempt (runner.ts gives up on it): its rows fail with `code`. */
  | { kind: 'refused'; info: JobInfo; code: string; error: string; calls: number; seconds: number }
  | { kind: 'stopped' };

/** Which call of a job an error came from ("upload", "close job", …), as the job's calls tag it. */
const steps = new WeakMap<object, string>();

export function stepOf(err: unknown): string | undefined {
  return err && typeof err === 'object' ? steps.get(err) : undefined;
}

function tag(what: string, err: unknown): unknown {
  if (err && typeof err === 'object' && !steps.has(err)) steps.set(err, what);
  return err;
}

const MULTIPLE_CONTENTS = /multiple contents|only do 'PUT' once|already been uploaded|InvalidJobState/i;

export async function driveJob(ctx: JobContext, e: JobEntry, csv: () => string | Buffer): Promise<Drive> {
  const { bulk, run, clock } = ctx;
  const t0 = clock.now();
  let calls = 0;
  const call = <T>(what: string, fn: () => Promise<T>): Promise<T> =>
    ctx
      .retry(
        () => {
          calls++;
          ctx.onCall();
          return fn();
        },
        what,
        ctx.signal
      )
      .catch((err: unknown) => {
        throw tag(what, err);
      });
  const at = (): string => new Date(clock.now()).toISOString();
  let info: JobInfo | undefined;

  if (e.jobId && !e.aborted) {
    // A job from an earlier session (or before a stop): ask the org where it stands.
    try {
      info = await call('get job', () => bulk.getJob(e.jobId!));
    } catch (err) {
      if (toApiError(err).errorCode !== 'NOT_FOUND') throw err;
      info = undefined; // deleted, or older than the org keeps jobs: create it again
    }
    if (info?.state === 'Open') {
      info = await call('abort job', () => bulk.abort(e.jobId!));
      run.appendJobLog({ t: 'aborted', at: at(), seq: e.seq, jobId: e.jobId, reason: 'never closed before the session ended' });
      info = undefined;
    }
  }

  if (!info) {
    const body = csv();
    // Not fsynced: after a kill it is in the page cache; only a power loss can take it, and then at worst an empty Open job is left in the org.
    run.appendJobLogLazy({ t: 'intent', at: at(), seq: e.seq });
    const intentNo = e.intentNo ?? 0;
    let created: JobInfo;
    let adopted: boolean;
    try {
      // Not retried blindly: a create whose answer is lost may have made a job (the orphan finder looks for it).
      ({ job: created, adopted } = await ctx.retry(
        () => {
          calls++;
          ctx.onCall();
          const lineEnding = csvLineEnding(body);
          return ctx.orphans.create(
            e.seq,
            intentNo,
            () => bulk.createJob({ object: ctx.def.target.object, operation: 'upsert', externalIdFieldName: ctx.def.target.externalIdField, lineEnding, columnDelimiter: 'COMMA' }),
            lineEnding
          );
        },
        'create job',
        ctx.signal
      ));
    } catch (err) {
      throw tag('create job', err);
    }
    crashPoint('after-create');
    // The ledger's fold (the entry `e`) takes the org job id from this record. Not fsynced: a kill
    // leaves it in the page cache; a power loss can take it, and then the job's rows are sent again
    // in a new job (an upsert: harmless) while the lost one finishes or stays Open in the org.
    run.appendJobLogLazy({ t: 'created', at: at(), seq: e.seq, jobId: created.id, ...(adopted ? { adopted } : {}), ...(created.createdDate ? { orgCreatedAt: created.createdDate } : {}) });
    await uploadOnce(ctx, call, created.id, body);
    run.appendJobLogLazy({ t: 'uploaded', at: at(), seq: e.seq, jobId: created.id, bytes: Buffer.byteLength(body) });
    info = await closeOnce(ctx, call, created.id);
    run.appendJobLogLazy({ t: 'closed', at: at(), seq: e.seq, jobId: created.id });
    ctx.controller.onSubmitted(e.seq, clock.now());
  }

  // Poll with a growing interval until the job ends.
  const jobId = e.jobId!;
  const [pmin, pmax] = ctx.pacing.pollSeconds;
  let interval = pmin * 1000;
  const pollStart = clock.now();
  while (!TERMINAL_STATES.has(info.state)) {
    if (clock.now() - pollStart > JOB_WAIT_LIMIT_MS) {
      // Every wait has a bound: a job the org has not finished in this long is left to the org
      // (not aborted: it may still run), and the run stops, resumable; resume asks the org again.
      throw new LoadError('JobNotFinishing', `Bulk job ${jobId} (job ${e.seq}, partition ${e.partition}) is still ${info.state} after ${JOB_WAIT_LIMIT_MS / 3_600_000} hours of polling.`, [
        'Check the job in the org (Setup → Bulk Data Load Jobs), then resume the run: it asks the org where the job stands before anything else.',
      ]);
    }
    await clock.sleep(interval, ctx.signal);
    if (ctx.signal.aborted) return { kind: 'stopped' };
    interval = Math.min(interval * 1.5, pmax * 1000);
    info = await call('poll job', () => bulk.getJob(jobId));
    if (info.state !== 'Open') ctx.controller.onObserved(e.seq, info.state as ObservedState, clock.now());
  }
  try {
    const okCsv = await call('successful results', () => bulk.successfulResults(jobId));
    const failCsv = await call('failed results', () => bulk.failedResults(jobId));
    return { kind: 'results', info, okCsv, failCsv, calls, seconds: (clock.now() - t0) / 1000 };
  } catch (err) {
    const ae = toApiError(err);
    if (ae.status === 401 || ae.errorCode === 'INVALID_SESSION_ID' || ae.quota || ctx.signal.aborted) throw err;
    return { kind: 'unreadable', info, error: ae.message, calls, seconds: (clock.now() - t0) / 1000 };
  }
}

/** How long one job may stay unfinished in the org before the run stops (the org's own batch retries can take hours). */
const JOB_WAIT_LIMIT_MS = 12 * 3_600_000;

type Call = <T>(what: string, fn: () => Promise<T>) => Promise<T>;

async function uploadOnce(ctx: JobContext, call: Call, jobId: string, body: string | Buffer): Promise<void> {
  let tries = 0;
  await call('upload', async () => {
    tries++;
    try {
      await ctx.bulk.upload(jobId, body);
    } catch (err) {
      // A repeated PUT refused because the first one landed: the upload is done.
      const e = toApiError(err);
      if (tries > 1 && e.status === 400 && MULTIPLE_CONTENTS.test(`${e.errorCode} ${e.message}`)) return;
      throw err;
    }
  });
}

async function closeOnce(ctx: JobContext, call: Call, jobId: string): Promise<JobInfo> {
  let tries = 0;
  return call('close job', async () => {
    tries++;
    if (tries > 1) {
      // Did the lost close land? Then the job is past Open.
      const now = await ctx.bulk.getJob(jobId);
      if (now.state !== 'Open') return now;
    }
    return ctx.bulk.close(jobId);
  });
}

/** Abort the org jobs of these entries that are in flight (cancel), and record it. A job that already ended can't be aborted; resume collects its results. */
export async function abortOpenJobs(ctx: JobContext, entries: JobEntry[], reason: string): Promise<void> {
  for (const e of entries) {
    if (!e.jobId || e.aborted || e.kind === 'reject') continue;
    try {
      await ctx.bulk.abort(e.jobId);
      ctx.run.appendJobLog({ t: 'aborted', at: new Date(ctx.clock.now()).toISOString(), seq: e.seq, jobId: e.jobId, reason });
    } catch {
      // ended meanwhile
    }
  }
}

/** Delete a finished job from the org once its result is recorded (best effort: the org drops finished jobs after 7 days anyway). */
export async function dropFinishedJob(ctx: JobContext, seq: number, jobId: string): Promise<void> {
  if (!jobId) return;
  try {
    await ctx.bulk.deleteJob(jobId);
    ctx.run.appendJobLogLazy({ t: 'deleted', at: new Date(ctx.clock.now()).toISOString(), seq, jobId });
  } catch {
    // left for the org to expire
  }
}
