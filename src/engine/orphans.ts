/*
 * Org jobs this run created but never recorded: a create whose answer was lost (in this
 * session: adopt the job), or a crash between a create and the line that names it (on
 * resume: abort it). The run logs an intent before every create, so such a job is an Open
 * upsert job of this run's object and user that no ledger record names, created after the
 * jobs the log recorded before the intent and before the jobs it recorded after it. The
 * window is anchored on those known jobs' own createdDate, in the org's clock, so the
 * difference between this machine's clock and the org's does not matter. Only when exactly
 * one job matches one intent is it taken as the run's own; anything ambiguous is left
 * alone and said so: the run never aborts a job it cannot show is its own.
 */
import type { BulkIngestClient, JobInfo } from '../sink/bulk-client.js';
import type { LedgerSink } from '../ledger/writer.js';
import type { JobEntry, LedgerFold } from '../ledger/fold.js';
import type { Clock } from './clock.js';
import type { Retrying } from './http-retry.js';

type Mine = JobInfo & { created: number };

export class OrphanFinder {
  private creating = 0;
  private userId?: string;

  public constructor(
    private readonly o: {
      bulk: BulkIngestClient;
      run: LedgerSink;
      retry: Retrying;
      clock: Clock;
      object: string;
      /** The org user the run's jobs are created as. */
      userId: () => Promise<string | undefined>;
      fold: LedgerFold;
    }
  ) {}

  /** Around every create: adoption waits until no other create of this process is unanswered. */
  public beginCreate(): void {
    this.creating++;
  }
  public endCreate(jobId?: string): void {
    this.creating--;
    if (jobId) this.o.fold.orgJobIds.add(jobId);
  }

  /** This user's upsert jobs on the run's object, with their createdDate in org time. */
  private async mine(): Promise<Mine[]> {
    this.userId ??= await this.o.userId();
    if (!this.userId) return [];
    const user15 = this.userId.slice(0, 15);
    const all = await this.o.retry(() => this.o.bulk.listJobs({ jobType: 'V2Ingest' }), 'list jobs');
    return all
      .filter((j) => j.operation === 'upsert' && j.object.toLowerCase() === this.o.object.toLowerCase() && j.createdById?.slice(0, 15) === user15)
      .map((j) => ({ ...j, created: Date.parse((j.createdDate ?? '').replace(/\+0000$/, 'Z')) }))
      .filter((j) => Number.isFinite(j.created));
  }

  /** Org-time bounds of the jobs created between two moments of the log. */
  private window(jobs: Mine[], fromLog: number, toLog: number | undefined): { lo: number; hi: number } {
    const orgTime = new Map(jobs.map((j) => [j.id, j.created]));
    let lo = -Infinity;
    let hi = Infinity;
    for (const c of this.o.fold.createdLog) {
      const t = orgTime.get(c.jobId);
      if (t === undefined) continue;
      if (c.at <= fromLog) lo = Math.max(lo, t);
      else if (toLog !== undefined && c.at >= toLog) hi = Math.min(hi, t);
    }
    return { lo, hi };
  }

  private unknownOpen(jobs: Mine[], w: { lo: number; hi: number }): Mine[] {
    return jobs.filter((j) => j.state === 'Open' && !this.o.fold.orgJobIds.has(j.id) && j.created >= w.lo && j.created <= w.hi);
  }

  /** After a create whose answer was lost: the job it made, if the org shows exactly one. */
  public async adopt(intentAt: number): Promise<JobInfo | undefined> {
    try {
      for (let waited = 0; this.creating > 1 && waited < 60_000; waited += 100) await this.o.clock.sleep(100);
      if (this.creating > 1) return undefined;
      const jobs = await this.mine();
      const c = this.unknownOpen(jobs, this.window(jobs, intentAt, undefined));
      if (c.length !== 1) return undefined;
      this.o.fold.orgJobIds.add(c[0].id);
      return c[0];
    } catch {
      return undefined;
    }
  }

  /** On resume: abort the org jobs of intents that no `created` followed; returns how many were aborted. */
  public async sweep(entries: JobEntry[]): Promise<number> {
    const open = entries.filter((e) => e.intentOpen && e.intentAt !== undefined);
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
    const windows = open.map((e) => ({ e, w: this.window(jobs, e.intentAt!, e.intentNextAt) }));
    let aborted = 0;
    for (const { e, w } of windows) {
      const mine = this.unknownOpen(jobs, w);
      const claims = mine.length === 1 ? windows.filter((x) => this.unknownOpen([mine[0]], x.w).length === 1).length : 0;
      if (mine.length === 0) {
        run.appendJobLogLazy({ t: 'orphan', at: at(), seq: e.seq, jobId: '', action: 'left', reason: 'no unrecorded Open job of this run in the org' });
      } else if (mine.length === 1 && claims === 1) {
        try {
          await this.o.retry(() => this.o.bulk.abort(mine[0].id), 'abort job');
          run.appendJobLog({ t: 'orphan', at: at(), seq: e.seq, jobId: mine[0].id, action: 'aborted', reason: 'created before a crash, never recorded' });
          run.event({ level: 'info', type: 'orphans', seq: e.seq, jobId: mine[0].id, message: `Aborted job ${mine[0].id}: created for job ${e.seq} just before the last session ended, never recorded.` });
          this.o.fold.orgJobIds.add(mine[0].id);
          aborted++;
        } catch (err) {
          run.event({ level: 'warn', type: 'orphans', jobId: mine[0].id, message: `Could not abort unrecorded job ${mine[0].id}: ${(err as Error).message}` });
        }
      } else {
        run.appendJobLogLazy({ t: 'orphan', at: at(), seq: e.seq, jobId: '', action: 'left', reason: `${mine.length} Open jobs match; none can be shown to be this run's` });
        run.event({ level: 'warn', type: 'orphans', seq: e.seq, message: `Left ${mine.map((j) => j.id).join(', ')} alone: they match job ${e.seq}'s create, but cannot be told apart from other clients' jobs.` });
      }
    }
    return aborted;
  }
}
