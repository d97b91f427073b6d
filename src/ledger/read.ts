/*
 * Reading a run's ledger from disk into the fold: the whole log once, or only what was
 * appended since the last look (status --wait, the engine's own rebuild). The log is
 * streamed, never held whole.
 */
import { readNdjsonFrom } from '../state/files.js';
import type { RunDir } from '../state/run-dir.js';
import type { JobLogRecord, RunManifest } from '../state/types.js';
import { LedgerFold } from './fold.js';

/** A fold that can be brought up to date with what the runner appended since. */
export class LedgerReader {
  public readonly fold: LedgerFold;
  private offset = 0;
  private line = 1;

  public constructor(private readonly run: RunDir, manifest: RunManifest) {
    this.fold = new LedgerFold(manifest.plan.partitions.length);
  }

  /** Apply the records appended since the last call; returns how many lines were read. */
  public update(): number {
    const r = readNdjsonFrom<JobLogRecord>(this.run.jobLogFile, this.offset, (rec) => this.fold.apply(rec), this.line);
    this.offset = r.offset;
    this.line += r.lines;
    return r.lines;
  }
}

export function readLedger(run: RunDir, manifest = run.readManifest()): { manifest: RunManifest; fold: LedgerFold } {
  const reader = new LedgerReader(run, manifest);
  reader.update();
  return { manifest, fold: reader.fold };
}
