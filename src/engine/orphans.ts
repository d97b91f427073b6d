/*
 * Org jobs this run created but never recorded: a create whose answer was lost (in this
 * session: adopt the job), or a crash between a create and the line that names it (on
 * resume: abort it). The run logs an intent before every create, so such a job is an Open
 * upsert job of this run's object and user that no ledger record names, created after the
 * jobs whose `created` line came before the intent (their createdDate, in the org's own
 * clock, is the lower bound; no assumption about the two clocks is made).
 *
 * Those jobs are taken as the run's own only when the run's open intents can account for
 * every one of them (as many intents as jobs, each job after some intent's lower bound,
 * one intent per job). More such jobs than intents means another client made some, and
 * then none is touched and the run says so: it never aborts a job it cannot show is its own.
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

  /** The org-time lower bound for a job created after the log reached `fromLog`. */
  private lowerBound(jobs: Mine[], fromLog: number): number {
    const orgTime = new Map(jobs.map((j) => [j.id, j.created]));
    let lo = -Infinity;
    for (const c of this.o.fold.createdLog) {
      const t = orgTime.get(c.jobId);
      if (t !== undefined && c.at <= fromLog) lo = Math.max(lo, t);
    }
    return lo;
  }

  private unknownOpen(jobs: Mine[], lo: number): Mine[] {
    return jobs.filter((j) => j.state === 'Open' && !this.o.fold.orgJobIds.has(j.id) && j.created >= lo).sort((a, b) => a.created - b.created);
  }

  /** Can the intents (by lower bound) account for every job, one intent each? (Hall's condition on nested windows.) */
  private explained(candidates: Mine[], los: number[]): boolean {
    if (candidates.length > los.length) return false;
    const sorted = [...los].sort((a, b) => a - b);
    return candidates.every((c, k) => sorted.filter((lo) => lo <= c.created).length >= k + 1);
  }

  /** After a create whose answer was lost: the job it made, if the org shows exactly one. */
  public async adopt(intentAt: number): Promise<JobInfo | undefined> {
    try {
      for (let waited = 0; this.creating > 1 && waited < 60_000; waited += 100) await this.o.clock.sleep(100);
      if (this.creating > 1) return undefined;
      const jobs = await this.mine();
      const c = this.unknownOpen(jobs, this.lowerBound(jobs, intentAt));
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
    const los = open.map((e) => this.lowerBound(jobs, e.intentAt!));
    const candidates = this.unknownOpen(jobs, Math.min(...los));
    const mark = (action: 'left', reason: string): void => {
      for (const e of open) run.appendJobLogLazy({ t: 'orphan', at: at(), seq: e.seq, jobId: '', action, reason });
    };
    if (candidates.length === 0) {
      mark('left', 'no unrecorded Open job of this run in the org');
      return 0;
    }
    if (!this.explained(candidates, los)) {
      mark('left', `${candidates.length} Open jobs could be this run's, but only ${open.length} create(s) of it went unrecorded`);
      run.event({ level: 'warn', type: 'orphans', message: `Left ${candidates.map((j) => j.id).join(', ')} alone: more Open jobs than this run's unrecorded creates; some belong to another client.` });
      return 0;
    }
    let aborted = 0;
    for (const [i, job] of candidates.entries()) {
      const e = open[i];
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
    for (const e of open.slice(candidates.length)) run.appendJobLogLazy({ t: 'orphan', at: at(), seq: e.seq, jobId: '', action: 'left', reason: 'its create made no job' });
    return aborted;
  }
}
