import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Messages, type Org } from '@salesforce/core';
import { Flags, SfCommand } from '@salesforce/sf-plugins-core';
import { RunDir, runsRoot } from '../../../state/run-dir.js';
import { summarizeRun, type RunStatusState } from '../../../state/summary.js';
import type { JobLogRecord, RunManifest } from '../../../state/types.js';
import { runFileError } from '../../../cli/run-errors.js';
import { BulkIngestClient } from '../../../sink/bulk-client.js';

Messages.importMessagesDirectoryFromMetaUrl(import.meta.url);
const messages = Messages.loadMessages('@datacloud/plugin-datacloud-load', 'datacloud.load.cancel');

export type LoadCancelResult = {
  runId: string;
  runDir: string;
  previousState: RunStatusState;
  state: RunStatusState;
  /** When the cancel request was written (null when the run was already over). */
  requestedAt: string | null;
  /** runner: the live runner stopped itself; command: no runner was alive, this command cancelled the run; none: nothing to cancel; pending: asked, not waited. */
  cancelledBy: 'runner' | 'command' | 'none' | 'pending';
  /** Bulk jobs this command aborted in the org. */
  abortedJobs: string[];
  /** Open jobs it could not abort, or did not try to (no --target-org). */
  openJobs: Array<{ seq: number; jobId: string; reason: string }>;
  next: string | null;
};

type OpenJob = { seq: number; jobId: string };

/** Jobs created in the org with no result and not aborted since their last creation. */
export function openJobs(log: JobLogRecord[]): OpenJob[] {
  const seqs = new Map<number, { jobId?: string; open: boolean; done: boolean }>();
  for (const r of log) {
    const s = seqs.get(r.seq) ?? { open: false, done: false };
    seqs.set(r.seq, s);
    if (r.t === 'created') {
      s.jobId = r.jobId;
      s.open = true;
    } else if (r.t === 'aborted' && r.jobId === s.jobId) s.open = false;
    else if (r.t === 'result') s.done = true;
  }
  return [...seqs.entries()].filter(([, s]) => s.open && !s.done && s.jobId).map(([seq, s]) => ({ seq, jobId: s.jobId! }));
}

export default class LoadCancel extends SfCommand<LoadCancelResult> {
  public static readonly summary = messages.getMessage('summary');
  public static readonly description = messages.getMessage('description');
  public static readonly examples = messages.getMessages('examples');
  public static readonly flags = {
    'run-id': Flags.string({ summary: messages.getMessage('flags.run-id.summary') }),
    'runs-dir': Flags.directory({ summary: messages.getMessage('flags.runs-dir.summary') }),
    'target-org': Flags.optionalOrg({ summary: messages.getMessage('flags.target-org.summary') }),
    'api-version': Flags.orgApiVersion(),
    wait: Flags.integer({ summary: messages.getMessage('flags.wait.summary'), min: 0, default: 60 }),
  };

  public async run(): Promise<LoadCancelResult> {
    const { flags } = await this.parse(LoadCancel);
    let run: RunDir;
    let before: RunStatusState;
    try {
      run = RunDir.open(runsRoot(flags['runs-dir']), flags['run-id']);
      before = summarizeRun(run).state;
    } catch (err) {
      throw runFileError(err);
    }
    const resume = `sf datacloud load resume --run-id ${run.runId}`;
    const base = { runId: run.runId, runDir: run.dir, previousState: before, abortedJobs: [] as string[], openJobs: [] as LoadCancelResult['openJobs'] };

    if (before === 'completed' || (before === 'cancelled' && openJobs(run.readJobLog()).length === 0)) {
      this.log(messages.getMessage('info.alreadyOver', [run.runId, before]));
      return { ...base, state: before, requestedAt: null, cancelledBy: 'none', next: before === 'cancelled' ? resume : null };
    }

    const request = run.requestCancel(true);
    if (run.runnerAlive()) {
      const hb = run.readHeartbeat();
      const who = [hb?.pid ?? '?', hb?.host ?? hostname()];
      if (flags.wait === 0) {
        this.log(messages.getMessage('info.requestedNoWait', [run.runId, ...who, run.runId]));
        return { ...base, state: before, requestedAt: request.at, cancelledBy: 'pending', next: `sf datacloud load status --run-id ${run.runId} --wait` };
      }
      this.log(messages.getMessage('info.requested', [run.runId, ...who, flags.wait]));
      const deadline = Date.now() + flags.wait * 1000;
      let m: RunManifest = run.readManifest();
      while (Date.now() < deadline && (m.state === 'running' || m.state === 'stopping') && run.runnerAlive()) {
        // eslint-disable-next-line no-await-in-loop
        await sleep(250);
        m = run.readManifest();
      }
      if (m.state !== 'running' && m.state !== 'stopping') {
        run.clearCancel();
        this.log(messages.getMessage('info.cancelled', [run.runId, run.runId]));
        return { ...base, state: summarizeRun(run).state, requestedAt: request.at, cancelledBy: 'runner', next: resume };
      }
      if (run.runnerAlive()) throw messages.createError('error.StillRunning', [run.runId, ...who, flags.wait], [run.runId]);
      // The runner died while we waited: finish the job here.
    }

    this.log(messages.getMessage('info.noRunner', [run.runId]));
    const manifest = run.readManifest();
    const open = openJobs(run.readJobLog());
    const result: LoadCancelResult = { ...base, state: 'cancelled', requestedAt: request.at, cancelledBy: 'command', next: resume };
    const org = flags['target-org'];
    if (open.length && org) {
      checkOrg(org, manifest, run.runId);
      const bulk = new BulkIngestClient(org.getConnection(flags['api-version']));
      for (const job of open) {
        try {
          // eslint-disable-next-line no-await-in-loop
          await bulk.abort(job.jobId);
          run.appendJobLog({ t: 'aborted', at: new Date().toISOString(), seq: job.seq, jobId: job.jobId, reason: 'cancelled by sf datacloud load cancel (no runner alive)' });
          result.abortedJobs.push(job.jobId);
          this.log(messages.getMessage('info.aborted', [job.jobId]));
        } catch (err) {
          const reason = (err as Error).message;
          result.openJobs.push({ ...job, reason });
          this.warn(messages.getMessage('info.notAborted', [job.jobId, reason]));
        }
      }
    } else if (open.length) {
      for (const job of open) result.openJobs.push({ ...job, reason: 'no --target-org given' });
      this.warn(messages.getMessage('info.openJobs', [open.length, open.map((j) => j.jobId).join(', ')]));
    }
    run.updateManifest((m) => ({ ...m, state: 'cancelled' }));
    run.event({
      level: 'info',
      type: 'cancelled',
      message: `Cancelled by sf datacloud load cancel with no runner alive; ${result.abortedJobs.length} Bulk job(s) aborted, ${result.openJobs.length} left open.`,
      data: { abortedJobs: result.abortedJobs, openJobs: result.openJobs.map((j) => j.jobId) },
    });
    run.clearCancel();
    this.log(messages.getMessage('info.cancelled', [run.runId, run.runId]));
    return result;
  }
}

function checkOrg(org: Org, m: RunManifest, runId: string): void {
  const username = org.getUsername();
  const orgId = org.getOrgId();
  const sameId = m.org.orgId && orgId ? m.org.orgId.slice(0, 15) === orgId.slice(0, 15) : undefined;
  const sameUser = m.org.username && username ? m.org.username.toLowerCase() === username.toLowerCase() : undefined;
  if (sameId === false || (sameId === undefined && sameUser === false)) {
    const runOrg = m.org.username ?? m.org.orgId ?? '?';
    throw messages.createError('error.WrongOrg', [runId, runOrg, username ?? orgId ?? '?'], [runOrg]);
  }
}
