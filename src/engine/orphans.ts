/*
 * Org jobs this run created but never recorded: a create whose answer was lost (in this
 * session: adopt the job), or a crash between a create and the line that names it (on
 * resume: abort it). The run logs an intent before every create, and every `created` line
 * carries the job's createdDate in the org's own clock. So a lost create's job, if it was
 * made, is an Open upsert job of this run's object and user (createdById) that no ledger
 * record names, created in the create's window:
 *   after  the createdDate of every job whose `created` line came before the intent (its
 *          answer came before this create was sent);
 *   before the createdDate of every job whose intent came after this create failed (in this
 *          session only: a crash leaves the failure's moment unknown, and the window open).
 * No assumption about the two clocks is made: org times are compared with org times only.
 *
 * Several creates can be lost at once (jobs in flight): while a loss is being resolved, no
 * new create is sent, and the resolution waits until no create of this process is in the
 * air; then each job in some window is matched to a distinct lost create whose window holds
 * it. Jobs are taken as the run's own only when every job in the windows is matched: more
 * jobs than lost creates means another client (or this user by hand) made some, and then
 * none is touched and the run says so. It never aborts a job it cannot show is its own.
 */
import type { BulkIngestClient, JobInfo } from '../sink/bulk-client.js';
import type { LedgerSink } from '../ledger/writer.js';
import { orgTime, type JobEntry, type LedgerFold } from '../ledger/fold.js';
import { toApiError } from '../core/errors.js';
import type { Clock } from './clock.js';
import type { Retrying } from './http-retry.js';

type Mine = JobInfo & { created: number };
/** A create whose job may exist: [lo, hi] in org time, from the ledger. */
type Window = { seq: number; lo: number; hi: number; lineEnding?: string };
type Lost = { seq: number; intentNo: number; failedNo: number; lineEnding?: string; resolve: (job: JobInfo | undefined) => void };

/** How long a lost create waits for the other creates in the air before it gives up adopting. */
const SETTLE_MS = 60_000;

export class OrphanFinder {
  private inAir = 0;
  private userId?: string;
  private lost: Lost[] = [];
  private resolving?: Promise<void>;
  private readonly settled = new Set<() => void>();

  public constructor(
    private readonly o: {
      bulk: BulkIngestClient;
      run: LedgerSink;
      retry: Retrying;
      clock: Clock;
      object: string;
      /** The run's external ID field: a job upserting on another field is not the run's. */
      externalIdField: string;
      /** The org user the run's jobs are created as. */
      userId: () => Promise<string | undefined>;
      fold: LedgerFold;
    }
  ) {}

  /**
   * One create attempt of job `seq`, whose intent is at log position `intentNo`. Waits while a
   * lost create is being resolved; if the answer is lost (a transient error), looks for the job
   * it may have made. Returns the job and whether it was adopted; throws when nothing is found.
   */
  public async create(seq: number, intentNo: number, send: () => Promise<JobInfo>, lineEnding?: string): Promise<{ job: JobInfo; adopted: boolean }> {
    while (this.lost.length || this.resolving) await new Promise<void>((r) => this.settled.add(r));
    this.inAir++;
    let job: JobInfo;
    try {
      job = await send();
    } catch (err) {
      this.inAir--;
      if (!toApiError(err).transient) throw err;
      const found = await this.adopt(seq, intentNo, lineEnding);
      if (!found) throw err;
      return { job: found, adopted: true };
    }
    this.inAir--;
    this.o.fold.orgJobIds.add(job.id);
    if (job.createdById) this.userId ??= job.createdById;
    this.wakeAll();
    return { job, adopted: false };
  }

  private wakeAll(): void {
    const s = [...this.settled];
    this.settled.clear();
    for (const r of s) r();
  }

  /** After a create whose answer was lost: the job it made, when it can be told apart. */
  private adopt(seq: number, intentNo: number, lineEnding?: string): Promise<JobInfo | undefined> {
    return new Promise((resolve) => {
      this.lost.push({ seq, intentNo, failedNo: this.o.fold.records, lineEnding, resolve });
      void this.resolveLost();
    });
  }

  private async resolveLost(): Promise<void> {
    if (this.resolving) return;
    this.resolving = (async () => {
      while (this.lost.length) {
        // Every create of this process answered or lost: then the org's list holds every job they made.
        for (let waited = 0; this.inAir > 0 && waited < SETTLE_MS; waited += 100) await this.o.clock.sleep(100);
        const batch = this.lost;
        this.lost = [];
        let found = new Map<number, JobInfo>();
        if (this.inAir === 0) {
          try {
            found = await this.match(batch);
          } catch {
            // The list could not be read: the creates are made again; what they made is left alone.
          }
        }
        for (const l of batch) l.resolve(found.get(l.seq));
      }
    })();
    try {
      await this.resolving;
    } finally {
      this.resolving = undefined;
      this.wakeAll();
    }
  }

  private async match(batch: Lost[]): Promise<Map<number, JobInfo>> {
    const jobs = await this.mine();
    // A job adopted must take this create's CSV as it is: its line ending must be the one asked for.
    const windows = batch.map((l) => ({ ...this.window(jobs, l.seq, l.intentNo, l.failedNo), lineEnding: l.lineEnding }));
    const m = this.assign(jobs, windows);
    const out = new Map<number, JobInfo>();
    if (!m.ok) {
      this.o.run.event({
        level: 'warn',
        type: 'orphans',
        message: `Left ${m.candidates.map((j) => j.id).join(', ')} alone: more Open jobs than this session's ${batch.length} lost create(s); some belong to another client. The creates are made again.`,
      });
      return out;
    }
    for (const [seq, job] of m.bySeq) {
      this.o.fold.orgJobIds.add(job.id);
      out.set(seq, job);
    }
    return out;
  }

  /** This user's upsert jobs on the run's object, with their createdDate in org time. */
  private async mine(): Promise<Mine[]> {
    this.userId ??= await this.o.userId();
    if (!this.userId) return [];
    const user15 = this.userId.slice(0, 15);
    const all = await this.o.retry(() => this.o.bulk.listJobs({ jobType: 'V2Ingest' }), 'list jobs');
    return all
      .filter(
        (j) =>
          j.operation === 'upsert' &&
          j.object.toLowerCase() === this.o.object.toLowerCase() &&
          j.createdById?.slice(0, 15) === user15 &&
          (!j.externalIdFieldName || j.externalIdFieldName.toLowerCase() === this.o.externalIdField.toLowerCase())
      )
      .flatMap((j) => {
        const created = orgTime(j.createdDate);
        return created === undefined ? [] : [{ ...j, created }];
      });
  }

  /**
   * The org-time window of a create of `seq` with its intent at log position `intentNo`, that
   * failed when the log was at `failedNo` (undefined: unknown, after a crash).
   */
  private window(jobs: Mine[], seq: number, intentNo: number, failedNo?: number): Window {
    const listed = new Map(jobs.map((j) => [j.id, j.created]));
    let lo = -Infinity;
    let hi = Infinity;
    for (const c of this.o.fold.createdLog) {
      const t = c.orgAt ?? listed.get(c.jobId);
      if (t === undefined) continue;
      if (c.no < intentNo) lo = Math.max(lo, t);
      else if (failedNo !== undefined && c.intentNo !== undefined && c.intentNo > failedNo) hi = Math.min(hi, t);
    }
    return { seq, lo, hi };
  }

  /**
   * The unrecorded Open jobs inside some window, each matched to a distinct window holding it
   * (points to intervals, greedily by the earliest-closing window: a largest matching). ok when
   * every such job is matched.
   */
  private assign(jobs: Mine[], windows: Window[]): { ok: boolean; candidates: Mine[]; bySeq: Map<number, Mine> } {
    const candidates = jobs
      .filter((j) => j.state === 'Open' && !this.o.fold.orgJobIds.has(j.id) && windows.some((w) => fits(j, w)))
      .sort((a, b) => a.created - b.created);
    const free = [...windows];
    const bySeq = new Map<number, Mine>();
    for (const j of candidates) {
      let best = -1;
      for (const [i, w] of free.entries()) if (fits(j, w) && (best < 0 || w.hi < free[best].hi)) best = i;
      if (best < 0) return { ok: false, candidates, bySeq: new Map() };
      bySeq.set(free[best].seq, j);
      free.splice(best, 1);
    }
    return { ok: true, candidates, bySeq };
  }

  /** On resume: abort the org jobs of intents that no `created` followed; returns how many were aborted. */
  public async sweep(entries: JobEntry[]): Promise<number> {
    const open = entries.filter((e) => e.intentOpen && e.intentNo !== undefined);
    if (!open.length) return 0;
    const { run, clock } = this.o;
    const at = (): string => new Date(clock.now()).toISOString();
    let jobs: Mine[];
    try {
      jobs = await this.mine();
    } catch (err) {
      run.event({ level: 'warn', type: 'orphans', message: `Could not list the org's jobs to look for jobs created but not recorded: ${(err as Error).message}` });
      return 0;
    }
    const m = this.assign(jobs, open.map((e) => this.window(jobs, e.seq, e.intentNo!)));
    const left = (e: JobEntry, reason: string): void => run.appendJobLogLazy({ t: 'orphan', at: at(), seq: e.seq, jobId: '', action: 'left', reason });
    if (m.candidates.length === 0) {
      for (const e of open) left(e, 'no unrecorded Open job of this run in the org');
      return 0;
    }
    if (!m.ok) {
      for (const e of open) left(e, `${m.candidates.length} Open jobs could be this run's, but only ${open.length} create(s) of it went unrecorded`);
      run.event({ level: 'warn', type: 'orphans', message: `Left ${m.candidates.map((j) => j.id).join(', ')} alone: more Open jobs than this run's unrecorded creates; some belong to another client.` });
      return 0;
    }
    let aborted = 0;
    for (const e of open) {
      const job = m.bySeq.get(e.seq);
      if (!job) {
        left(e, 'its create made no job');
        continue;
      }
      try {
        await this.o.retry(() => this.o.bulk.abort(job.id), 'abort job');
        run.appendJobLog({ t: 'orphan', at: at(), seq: e.seq, jobId: job.id, action: 'aborted', reason: 'created before the last session ended, never recorded' });
        run.event({ level: 'info', type: 'orphans', jobId: job.id, message: `Aborted job ${job.id}: created just before the last session ended, never recorded.` });
        this.o.fold.orgJobIds.add(job.id);
        aborted++;
      } catch (err) {
        run.event({ level: 'warn', type: 'orphans', jobId: job.id, message: `Could not abort unrecorded job ${job.id}: ${(err as Error).message}` });
      }
    }
    return aborted;
  }
}

function fits(j: Mine, w: Window): boolean {
  return j.created >= w.lo && j.created <= w.hi && (!w.lineEnding || !j.lineEnding || j.lineEnding === w.lineEnding);
}
