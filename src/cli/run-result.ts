/*
 * What start, resume and retry-failures return with --json, and their exit codes:
 * 0 completed with every source row loaded, 2 finished with rows not loaded (failed, or
 * the source changed), 3 stopped, cancelled or failed (resumable), 1 the command could
 * not run. Never per-row data: the paths of the run's files instead. The next command is
 * printed runnable as it is (with -o and --run-id).
 */
import { Messages } from '@salesforce/core';
import type { SfCommand } from '@salesforce/sf-plugins-core';
import type { EngineOutcome } from '../engine/runner.js';
import type { LoadProgress } from '../ux/progress.js';
import type { RunDir } from '../state/run-dir.js';
import type { JobTotals, Totals } from '../ledger/status-types.js';
import { hint, summarizeRun } from '../ledger/status.js';
import { notificationText, notifyWebhook, redactUrl } from '../notify/webhook.js';

export type LoadRunResult = {
  runId: string;
  runDir: string;
  state: string;
  totals: Totals;
  jobs: JobTotals;
  apiCalls: number;
  elapsedSeconds: number;
  partitions: number;
  /** What this session found when it began: jobs in flight asked of the org, jobs queued again, unrecorded jobs aborted. */
  resumed: EngineOutcome['resumed'];
  files: { manifest: string; jobLog: string; failures: string; events: string };
  error?: { name: string; message: string; actions: string[] };
  next?: string;
};

export function runResult(run: RunDir, outcome: EngineOutcome): LoadRunResult {
  const s = outcome.snapshot;
  const m = run.readManifest();
  const done = outcome.state === 'completed' || outcome.state === 'incomplete';
  const next = done ? (s.totals.failed > 0 ? hint(run, m, 'retry-failures') : undefined) : hint(run, m, 'resume');
  return {
    runId: run.runId,
    runDir: run.dir,
    state: outcome.state,
    totals: s.totals,
    jobs: s.jobs,
    apiCalls: s.apiCalls,
    elapsedSeconds: s.elapsedSeconds,
    partitions: s.partitions.total,
    resumed: outcome.resumed,
    files: { manifest: run.manifestFile, jobLog: run.jobLogFile, failures: run.failuresFile, events: run.eventsFile },
    ...(outcome.error ? { error: { name: `${outcome.error.code}Error`, message: outcome.error.message, actions: outcome.error.actions } } : {}),
    ...(next ? { next } : {}),
  };
}

export function exitCodeFor(r: LoadRunResult): number {
  if (r.state === 'completed') return r.totals.failed > 0 || r.totals.loaded < r.totals.sourceRows ? 2 : 0;
  if (r.state === 'incomplete') return 2;
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

/** What a session's end says, in lines (also what the progress display ends with). */
export function endLines(result: LoadRunResult, outcome: EngineOutcome): string[] {
  const n = (x: number): string => x.toLocaleString('en-US');
  const t = result.totals;
  const tokens = [n(t.loaded), n(t.sourceRows), n(t.failed), n(Math.max(0, t.sourceRows - t.loaded - t.failed))];
  const lines = [startMessages.getMessage(`info.${outcome.state}`, outcome.state === 'completed' ? tokens.slice(0, 3) : tokens)];
  if (outcome.state !== 'completed' && outcome.state !== 'incomplete' && result.jobs.inFlight > 0) {
    lines.push(startMessages.getMessage('info.inFlightLeft', [result.jobs.inFlight]));
  }
  if (result.next) lines.push(startMessages.getMessage('info.next', [result.next]));
  return lines;
}

/** End a start/resume/retry-failures session: stop the display, set the exit code, say what's next, notify. */
export async function endSession(cmd: SfCommand<unknown>, run: RunDir, outcome: EngineOutcome, progress: LoadProgress | undefined, notifyUrl?: string): Promise<LoadRunResult> {
  const result = runResult(run, outcome);
  const lines = endLines(result, outcome);
  progress?.update(outcome.snapshot);
  progress?.stop({ state: outcome.state, lines: [] }); // the closing lines go to stdout, below
  process.exitCode = exitCodeFor(result);
  if (outcome.error) cmd.warn(`${outcome.error.message}\n${outcome.error.actions.map((a) => `  - ${a}`).join('\n')}`);
  for (const l of lines) cmd.log(l);
  if (notifyUrl) {
    const status = summarizeRun(run);
    const sent = await notifyWebhook(notifyUrl, { status, text: notificationText(status) });
    if (sent.ok) cmd.log(startMessages.getMessage('info.notified', [redactUrl(notifyUrl)]));
    else cmd.warn(startMessages.getMessage('info.notifyFailed', [redactUrl(notifyUrl), sent.attempts, sent.error ?? `HTTP ${sent.status ?? '?'}`]));
  }
  return result;
}
