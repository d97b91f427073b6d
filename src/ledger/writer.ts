/*
 * The session's way of writing the ledger: every record appended to jobs.ndjson is applied
 * to the session's fold at the same moment, so the live counts (progress, the scheduler's
 * view, the final snapshot) are the very fold that `status` computes from the file.
 */
import type { RunDir } from '../state/run-dir.js';
import type { EventRecord, FailureRecord, JobLogRecord } from '../state/types.js';
import type { LedgerFold } from './fold.js';

export type LedgerSink = {
  appendJobLog(...records: JobLogRecord[]): void;
  appendJobLogLazy(...records: JobLogRecord[]): void;
  appendFailures(records: FailureRecord[]): void;
  writeJobCsv(seq: number, csv: string): void;
  writeJobFids(seq: number, fids: string[]): void;
  deleteJobFiles(seq: number): void;
  event(e: Omit<EventRecord, 'at'>): void;
};

export class LedgerWriter implements LedgerSink {
  public constructor(private readonly run: RunDir, public readonly fold: LedgerFold) {}

  public appendJobLog(...records: JobLogRecord[]): void {
    this.run.appendJobLog(...records);
    for (const r of records) this.fold.apply(r);
  }
  public appendJobLogLazy(...records: JobLogRecord[]): void {
    this.run.appendJobLogLazy(...records);
    for (const r of records) this.fold.apply(r);
  }
  public appendFailures(records: FailureRecord[]): void {
    this.run.appendFailures(records);
  }
  public writeJobCsv(seq: number, csv: string): void {
    this.run.writeJobCsv(seq, csv);
  }
  public writeJobFids(seq: number, fids: string[]): void {
    this.run.writeJobFids(seq, fids);
  }
  public deleteJobFiles(seq: number): void {
    this.run.deleteJobFiles(seq);
  }
  public event(e: Omit<EventRecord, 'at'>): void {
    this.run.event(e);
  }
  /** Reserve the next seq (the fold advances it when the planned record is applied). */
  public nextSeq(): number {
    return this.fold.nextSeq++;
  }
}
