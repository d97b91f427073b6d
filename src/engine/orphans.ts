/*
 * Org jobs this run created but never recorded: a create whose answer was lost (in this
 * session: adopt the job), or a crash between a create and the line that names it (on
 * resume: abort it). The run logs an intent before every create, so such a job is an Open
 * job of this run's object and user, created between that intent and the next ledger
 * record, that no ledger record names. Only when exactly one job matches one intent is it
 * taken as the run's own; anything ambiguous is left alone and said so: the run never
 * aborts a job it cannot show is its own.
 */
import type { BulkIngestClient, JobInfo } from '../sink/bulk-client.js';
import type { LedgerSink } from '../ledger/writer.js';
import type { JobEntry } from '../ledger/fold.js';
import type { Clock } from './clock.js';
import type { Retrying } from './http-retry.js';

/** Allowance for the difference between this machine's clock and the org's. */
const SKEW_MS = 120_000;

export class OrphanFinder {
  public constructor(
    private readonly o: {
      bulk: BulkIngestClient;
      run: LedgerSink;
      retry: Retrying;
      clock: Clock;
      object: string;
      userId: string | undefined;
      /** Org job ids the ledger names (they are not orphans). */
      known: Set<string>;
    }
  ) {}

  private async candidates(from: number, to: number): Promise<JobInfo[]> {
    if (!this.o.userId) return [];
    const all = await this.o.retry(() => this.o.bulk.listJobs({ jobType: 'V2Ingest' }), 'list jobs');
    const user15 = this.o.userId.slice(0, 15);
    return all.filter((j) => {
      if (this.o.known.has(j.id) || j.state !== 'Open' || j.operation !== 'upsert') return false;
      if (j.object.toLowerCase() !== this.o.object.toLowerCase()) return false;
      if (!j.createdById || j.createdById.slice(0, 15) !== user15) return false;
      const created = Date.parse((j.createdDate ?? '').replace(/\+0000$/, 'Z'));
      return Number.isFinite(created) && created >= from - SKEW_MS && created <= to + SKEW_MS;
    });
  }

  /** After a create whose answer was lost: the job it made, if the org shows exactly one. */
  public async adopt(from: number, to: number): Promise<JobInfo | undefined> {
    try {
      const c = await this.candidates(from, to);
      if (c.length !== 1) return undefined;
      this.o.known.add(c[0].id);
      return c[0];
    } catch {
      return undefined;
    }
  }

  /** On resume: abort the org jobs of intents that no `created` followed; returns how many were aborted. */
  public async sweep(entries: JobEntry[]): Promise<number> {
    const open = entries.filter((e) => e.intentOpen && e.intentAt !== undefined);
    if (!open.length || !this.o.userId) return 0;
    let aborted = 0;
    const { run, clock } = this.o;
    const at = (): string => new Date(clock.now()).toISOString();
    const windows = open.map((e) => ({ e, from: e.intentAt!, to: e.intentNextAt ?? clock.now() }));
    let jobs: JobInfo[];
    try {
      jobs = await this.candidates(Math.min(...windows.map((w) => w.from)), Math.max(...windows.map((w) => w.to)));
    } catch (err) {
      run.event({ level: 'warn', type: 'orphans', message: `Could not list the org's jobs to look for jobs created but not recorded: ${(err as Error).message}` });
      return 0;
    }
    const inWindow = (j: JobInfo, w: { from: number; to: number }): boolean => {
      const c = Date.parse((j.createdDate ?? '').replace(/\+0000$/, 'Z'));
      return c >= w.from - SKEW_MS && c <= w.to + SKEW_MS;
    };
    for (const w of windows) {
      const mine = jobs.filter((j) => inWindow(j, w));
      const claims = mine.length === 1 ? windows.filter((x) => inWindow(mine[0], x)).length : 0;
      if (mine.length === 0) {
        run.appendJobLogLazy({ t: 'orphan', at: at(), seq: w.e.seq, jobId: '', action: 'left', reason: 'no unrecorded Open job of this run in the org' });
      } else if (mine.length === 1 && claims === 1) {
        try {
          await this.o.retry(() => this.o.bulk.abort(mine[0].id), 'abort job');
          run.appendJobLog({ t: 'orphan', at: at(), seq: w.e.seq, jobId: mine[0].id, action: 'aborted', reason: 'created before a crash, never recorded' });
          run.event({ level: 'info', type: 'orphans', seq: w.e.seq, jobId: mine[0].id, message: `Aborted job ${mine[0].id}: created for job ${w.e.seq} just before the last session ended, never recorded.` });
          this.o.known.add(mine[0].id);
          aborted++;
        } catch (err) {
          run.event({ level: 'warn', type: 'orphans', jobId: mine[0].id, message: `Could not abort unrecorded job ${mine[0].id}: ${(err as Error).message}` });
        }
      } else {
        run.appendJobLogLazy({ t: 'orphan', at: at(), seq: w.e.seq, jobId: '', action: 'left', reason: `${mine.length} Open jobs match; none can be shown to be this run's` });
        run.event({ level: 'warn', type: 'orphans', seq: w.e.seq, message: `Left ${mine.map((j) => j.id).join(', ')} alone: they match job ${w.e.seq}'s create, but cannot be told apart from other clients' jobs.` });
      }
      w.e.intentOpen = false;
    }
    return aborted;
  }
}
