/*
 * What start, resume and retry-failures return with --json, and their exit codes:
 * 0 completed with every row loaded, 2 completed with failed rows, 3 stopped, cancelled
 * or failed (resumable). Never per-row data: the paths of the run's files instead.
 */
import { Messages } from '@salesforce/core';
import type { SfCommand } from '@salesforce/sf-plugins-core';
import type { EngineOutcome } from '../engine/runner.js';
import type { LoadProgress } from '../ux/progress.js';
import type { RunDir } from '../state/run-dir.js';

export type LoadRunResult = {
  runId: string;
  runDir: string;
  state: string;
  totals: EngineOutcome['snapshot']['totals'];
  successRate: number;
  elapsedSeconds: number;
  partitions: number;
  files: { manifest: string; jobLog: string; failures: string; events: string };
  error?: { name: string; message: string; actions: string[] };
  next?: string;
};

export function runResult(run: RunDir, outcome: EngineOutcome): LoadRunResult {
  const s = outcome.snapshot;
  const next =
    outcome.state === 'completed'
      ? s.totals.failed > 0
        ? `sf datacloud load retry-failures --run-id ${run.runId}`
        : undefined
      : `sf datacloud load resume --run-id ${run.runId}`;
  return {
    runId: run.runId,
    runDir: run.dir,
    state: outcome.state,
    totals: s.totals,
    successRate: s.totals.sourceRows ? s.totals.loaded / s.totals.sourceRows : 0,
    elapsedSeconds: Math.round(s.elapsedSeconds * 10) / 10,
    partitions: s.partitions.length,
    files: { manifest: run.manifestFile, jobLog: run.jobLogFile, failures: run.failuresFile, events: run.eventsFile },
    ...(outcome.error ? { error: { name: `${outcome.error.code}Error`, message: outcome.error.message, actions: outcome.error.actions } } : {}),
    ...(next ? { next } : {}),
  };
}

export function exitCodeFor(r: LoadRunResult): number {
  if (r.state === 'completed') return r.totals.failed > 0 ? 2 : 0;
  return 3;
}

/**
 * Ctrl-C (or SIGTERM) once: stop cleanly. Twice: leave now (the files are consistent either
 * way). SfCommand's own handlers exit at once with 130, so they are set aside meanwhile.
 */
export function interruptController(onFirst: () => void): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  const saved = new Map(signals.map((s) => [s, process.listeners(s)] as const));
  let count = 0;
  const handler = (): void => {
    count++;
    if (count === 1) {
      onFirst();
      ac.abort();
    } else {
      process.exit(130);
    }
  };
  for (const s of signals) {
    process.removeAllListeners(s);
    process.on(s, handler);
  }
  return {
    signal: ac.signal,
    dispose: () => {
      for (const s of signals) {
        process.off(s, handler);
        for (const l of saved.get(s) ?? []) process.on(s, l as NodeJS.SignalsListener);
      }
    },
  };
}

Messages.importMessagesDirectoryFromMetaUrl(import.meta.url);
const startMessages = Messages.loadMessages('@datacloud/plugin-datacloud-load', 'datacloud.load.start');

/** End a start/resume/retry-failures session: stop the display, set the exit code, say what's next. */
export function endSession(cmd: SfCommand<unknown>, run: RunDir, outcome: EngineOutcome, progress: LoadProgress | undefined): LoadRunResult {
  progress?.stop(outcome.state === 'completed');
  const result = runResult(run, outcome);
  process.exitCode = exitCodeFor(result);
  if (outcome.error) cmd.warn(`${outcome.error.message}\n${outcome.error.actions.map((a) => `  - ${a}`).join('\n')}`);
  cmd.log(startMessages.getMessage(`info.${outcome.state}`, [result.totals.loaded.toLocaleString('en-US'), result.totals.failed.toLocaleString('en-US'), run.runId]));
  return result;
}
