import { setTimeout as sleep } from 'node:timers/promises';
import { Messages, type Org } from '@salesforce/core';
import { Flags, SfCommand } from '@salesforce/sf-plugins-core';
import { RunDir, runsRoot } from '../../../state/run-dir.js';
import { lockAlive, readLock, RunLockedError, RunLockHandle } from '../../../state/run-lock.js';
import type { RunManifest } from '../../../state/types.js';
import { readLedger } from '../../../ledger/read.js';
import { hint, statusOf } from '../../../ledger/status.js';
import type { RunStatusState } from '../../../ledger/status-types.js';
import { parseExit1, runFileError } from '../../../cli/run-errors.js';
import { minutesFlag } from '../../../cli/flags.js';
import { BulkIngestClient } from '../../../sink/bulk-client.js';
import { toApiError } from '../../../core/errors.js';
import { apiErrorName } from '../../../engine/stops.js';

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

export default class LoadCancel extends SfCommand<LoadCancelResult> {
  public static readonly summary = messages.getMessage('summary');
  public static readonly description = messages.getMessage('description');
  public static readonly examples = messages.getMessages('examples');
  public static readonly flags = {
    'run-id': Flags.string({ summary: messages.getMessage('flags.run-id.summary') }),
    'runs-dir': Flags.directory({ summary: messages.getMessage('flags.runs-dir.summary') }),
    'target-org': Flags.optionalOrg({ summary: messages.getMessage('flags.target-org.summary') }),
    'api-version': Flags.orgApiVersion(),
    wait: minutesFlag(60)({ summary: messages.getMessage('flags.wait.summary') }),
  };

  public async run(): Promise<LoadCancelResult> {
    const { flags } = await parseExit1(this.parse(LoadCancel));
    const waitMin = flags.wait ?? 1;
    let run: RunDir;
    let before: RunStatusState;
    let m: RunManifest;
    try {
      run = RunDir.open(runsRoot(flags['runs-dir']), flags['run-id']);
      const { manifest, fold } = readLedger(run);
      m = manifest;
      before = statusOf(run, manifest, fold).state;
    } catch (err) {
      throw runFileError(err);
    }
    const resume = hint(run, m, 'resume');
    const base = { runId: run.runId, runDir: run.dir, previousState: before, abortedJobs: [] as string[], openJobs: [] as LoadCancelResult['openJobs'] };
    const openNow = (): Array<{ seq: number; jobId: string }> =>
      readLedger(run)
        .fold.unfinished()
        .filter((e) => e.jobId && !e.aborted && e.kind !== 'reject')
        .map((e) => ({ seq: e.seq, jobId: e.jobId! }));

    if (before === 'completed' || before === 'incomplete' || (before === 'cancelled' && openNow().length === 0)) {
      this.log(messages.getMessage('info.alreadyOver', [run.runId, before]));
      return { ...base, state: before, requestedAt: null, cancelledBy: 'none', next: before === 'cancelled' ? resume : null };
    }

    const request = run.requestCancel(true);
    const holder = readLock(run.lockFile);
    if (lockAlive(holder)) {
      const who = [holder!.pid, holder!.host];
      if (waitMin === 0) {
        this.log(messages.getMessage('info.requestedNoWait', [run.runId, ...who, run.runId]));
        return { ...base, state: before, requestedAt: request.at, cancelledBy: 'pending', next: hint(run, m, 'status') + ' --wait 60' };
      }
      this.log(messages.getMessage('info.requested', [run.runId, ...who, waitMin]));
      const deadline = Date.now() + waitMin * 60_000;
      while (Date.now() < deadline && lockAlive(readLock(run.lockFile))) {
        // eslint-disable-next-line no-await-in-loop
        await sleep(250);
      }
      if (!lockAlive(readLock(run.lockFile)) && run.readManifest().state === 'cancelled') {
        run.clearCancel();
        this.log(messages.getMessage('info.cancelled', [run.runId, resume]));
        const after = readLedger(run);
        return { ...base, state: statusOf(run, after.manifest, after.fold).state, requestedAt: request.at, cancelledBy: 'runner', next: resume };
      }
      if (lockAlive(readLock(run.lockFile))) throw messages.createError('error.StillRunning', [run.runId, ...who, waitMin], [hint(run, m, 'status') + ' --wait 60']);
      // The runner died while we waited: finish the job here.
    }

    // No runner alive: hold the run's lock while this command writes to it.
    let lock: RunLockHandle;
    try {
      lock = RunLockHandle.acquire(run.lockFile, 'cancel');
    } catch (err) {
      if (err instanceof RunLockedError) throw messages.createError('error.StillRunning', [run.runId, err.lock.pid, err.lock.host, waitMin], [hint(run, m, 'status') + ' --wait 60']);
      throw err;
    }
    try {
      this.log(messages.getMessage('info.noRunner', [run.runId]));
      const open = openNow();
      const result: LoadCancelResult = { ...base, state: 'cancelled', requestedAt: request.at, cancelledBy: 'command', next: resume };
      const org = flags['target-org'];
      if (open.length && org) {
        checkOrg(org, m, run.runId);
        const bulk = new BulkIngestClient(org.getConnection(flags['api-version']));
        for (const job of open) {
          try {
            // eslint-disable-next-line no-await-in-loop
            await bulk.abort(job.jobId);
            run.appendJobLog({ t: 'aborted', at: new Date().toISOString(), seq: job.seq, jobId: job.jobId, reason: 'cancelled by sf datacloud load cancel (no runner alive)' });
            result.abortedJobs.push(job.jobId);
            this.log(messages.getMessage('info.aborted', [job.jobId]));
          } catch (err) {
            // The org's code and status only: its message can quote row values.
            const reason = apiErrorName(toApiError(err));
            result.openJobs.push({ ...job, reason });
            this.warn(messages.getMessage('info.notAborted', [job.jobId, reason]));
          }
        }
      } else if (open.length) {
        for (const job of open) result.openJobs.push({ ...job, reason: 'no --target-org given' });
        this.warn(messages.getMessage('info.openJobs', [open.length, open.map((j) => j.jobId).join(', ')]));
      }
      run.updateManifest((x) => ({ ...x, state: 'cancelled' }));
      run.event({
        level: 'info',
        type: 'cancelled',
        message: `Cancelled by sf datacloud load cancel with no runner alive; ${result.abortedJobs.length} Bulk job(s) aborted, ${result.openJobs.length} left open.`,
        data: { abortedJobs: result.abortedJobs, openJobs: result.openJobs.map((j) => j.jobId) },
      });
      run.clearCancel();
      this.log(messages.getMessage('info.cancelled', [run.runId, resume]));
      return result;
    } finally {
      lock.release();
      run.closeLogs();
    }
  }
}

function checkOrg(org: Org, m: RunManifest, runId: string): void {
  const username = org.getUsername();
  const orgId = org.getOrgId();
  const sameId = m.org.orgId && orgId ? m.org.orgId.slice(0, 15) === orgId.slice(0, 15) : undefined;
  const sameUser = m.org.username && username ? m.org.username.toLowerCase() === username.toLowerCase() : undefined;
  if (sameId === false || (sameId === undefined && sameUser === false)) {
    const runOrg = m.org.alias ?? m.org.username ?? m.org.orgId ?? '?';
    throw messages.createError('error.WrongOrg', [runId, runOrg, username ?? orgId ?? '?'], [runOrg]);
  }
}
