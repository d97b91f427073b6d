/*
 * Reading a run directory the way the plugin does, for assertions: the job log, the fold,
 * the rows failed now. Tests check the plugin's files with the plugin's own readers and
 * the emulator's target with its own inspection, then compare the two.
 */
import { join } from 'node:path';
import { readNdjson } from '../../src/state/files.js';
import { RunDir } from '../../src/state/run-dir.js';
import type { JobLogRecord } from '../../src/state/types.js';
import { readLedger } from '../../src/ledger/read.js';
import { currentFailures, type FailedRow } from '../../src/engine/failures-retry.js';
import type { LedgerFold } from '../../src/ledger/fold.js';

export function openRun(runsDir: string, runId: string): RunDir {
  return new RunDir(join(runsDir, runId), runId);
}

export function jobLog(run: RunDir): JobLogRecord[] {
  return readNdjson<JobLogRecord>(run.jobLogFile);
}

export function fold(run: RunDir): LedgerFold {
  return readLedger(run).fold;
}

export function failedNow(run: RunDir): FailedRow[] {
  return currentFailures(run, fold(run));
}

/** Org job ids per seq, from the log (every create, re-creations included). */
export function createdJobs(run: RunDir): number {
  return jobLog(run).filter((r) => r.t === 'created').length;
}
