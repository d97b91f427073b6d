import { setTimeout as sleep } from 'node:timers/promises';
import { Messages } from '@salesforce/core';
import { Flags, SfCommand } from '@salesforce/sf-plugins-core';
import { RunDir, runsRoot } from '../../../state/run-dir.js';
import { LedgerReader } from '../../../ledger/read.js';
import { statusOf } from '../../../ledger/status.js';
import type { RunStatus } from '../../../ledger/status-types.js';
import { parseExit1, runFileError } from '../../../cli/run-errors.js';
import { minutesFlag } from '../../../cli/flags.js';
import { duration, int, percent } from '../../../report/format.js';

Messages.importMessagesDirectoryFromMetaUrl(import.meta.url);
const messages = Messages.loadMessages('@datacloud/plugin-datacloud-load', 'datacloud.load.status');

export type LoadStatusResult = RunStatus;

/** A percent 0..100, decimals allowed (99.93). */
export const successRateFlag = Flags.custom<number>({
  parse: async (input: string) => {
    const n = Number(input);
    if (input.trim() === '' || !Number.isFinite(n) || n < 0 || n > 100) throw messages.createError('error.InvalidMinSuccessRate', [input]);
    return n;
  },
});

export default class LoadStatus extends SfCommand<LoadStatusResult> {
  public static readonly summary = messages.getMessage('summary');
  public static readonly description = messages.getMessage('description');
  public static readonly examples = messages.getMessages('examples');
  public static readonly flags = {
    'run-id': Flags.string({ summary: messages.getMessage('flags.run-id.summary') }),
    'runs-dir': Flags.directory({ summary: messages.getMessage('flags.runs-dir.summary') }),
    wait: minutesFlag(10_080)({ summary: messages.getMessage('flags.wait.summary'), description: messages.getMessage('flags.wait.description') }),
    interval: Flags.integer({ summary: messages.getMessage('flags.interval.summary'), min: 1, max: 3600, default: 5 }),
    'min-success-rate': successRateFlag({
      summary: messages.getMessage('flags.min-success-rate.summary'),
      description: messages.getMessage('flags.min-success-rate.description'),
      default: 100,
    }),
  };

  public async run(): Promise<LoadStatusResult> {
    const { flags } = await parseExit1(this.parse(LoadStatus));
    const minSuccessRate = flags['min-success-rate'];
    let status: RunStatus;
    try {
      const run = RunDir.open(runsRoot(flags['runs-dir']), flags['run-id']);
      // One reader for the whole follow: each look reads only what the runner appended since.
      const reader = new LedgerReader(run, run.readManifest());
      const look = (): RunStatus => {
        reader.update();
        return statusOf(run, run.readManifest(), reader.fold, { minSuccessRate });
      };
      status = look();
      const waitMs = (flags.wait ?? 0) * 60_000;
      if (waitMs > 0 && status.health.verdict === 'in-progress') {
        this.log(messages.getMessage('info.waiting', [run.runId, flags.interval, flags.wait!]));
        const deadline = Date.now() + waitMs;
        let last = '';
        while (status.health.verdict === 'in-progress' && Date.now() < deadline) {
          const key = compactLine(status, false);
          if (key !== last) this.log(`${new Date().toISOString().slice(11, 19)} ${compactLine(status)}`);
          last = key;
          // eslint-disable-next-line no-await-in-loop
          await sleep(Math.min(flags.interval * 1000, Math.max(0, deadline - Date.now())));
          status = look();
        }
        this.log(`${new Date().toISOString().slice(11, 19)} ${compactLine(status)}`);
        if (status.health.verdict === 'in-progress') this.warn(messages.getMessage('info.waitEnded', [flags.wait!]));
        this.log('');
      }
    } catch (err) {
      throw runFileError(err);
    }
    if (status.problems.length) {
      const err = messages.createError('error.RunFilesDisagree', [status.runId, status.problems.map((p) => `  - ${p}`).join('\n')], [status.health.next ?? '']);
      err.setData({ runId: status.runId, runDir: status.runDir, problems: status.problems, totals: status.totals });
      throw err;
    }
    process.exitCode = status.health.exitCode;
    this.display(status);
    return status;
  }

  private display(s: RunStatus): void {
    if (this.jsonEnabled()) return;
    const runner = s.runnerAlive && s.runner ? `, ${s.runner.command} pid ${s.runner.pid} on ${s.runner.host}` : '';
    this.styledHeader(`Run ${s.runId}${s.name ? ` (${s.name})` : ''}: ${s.source.object} → ${s.target.object}`);
    this.log(`State     ${s.state}${runner}${s.cancelRequestedAt ? ` (cancel requested ${s.cancelRequestedAt})` : ''}`);
    if (s.org.username) this.log(`Org       ${s.org.alias ? `${s.org.alias} (${s.org.username})` : s.org.username}`);
    this.log(
      `Settings  ${s.settings.profile} profile, ${s.settings.plannedPartitions} partitions by ${s.settings.partitionBy}, ${int(s.settings.rowsPerJob)} rows per job, up to ${s.settings.maxConcurrency} jobs in flight, ${s.settings.maxAttempts} attempts per row`
    );
    this.log('');
    const shown = s.partitions.filter((p) => p.state !== 'done' || p.failed > 0);
    if (shown.length) {
      this.table({
        data: shown.slice(0, 30).map((p) => ({
          partition: p.nullParent ? `${p.index} (no parent)` : p.index,
          state: p.state,
          read: `${int(p.read)} / ${int(p.plannedRows)}`,
          loaded: int(p.loaded),
          failed: int(p.failed),
          pending: int(p.pending),
          retried: int(p.retriedRows),
          inFlight: int(p.inFlight),
        })),
        columns: [
          { key: 'partition', name: 'Partition' },
          { key: 'state', name: 'State' },
          { key: 'read', name: 'Read / planned' },
          { key: 'loaded', name: 'Loaded' },
          { key: 'failed', name: 'Failed' },
          { key: 'pending', name: 'Pending' },
          { key: 'retried', name: 'Retried rows' },
          { key: 'inFlight', name: 'In flight' },
        ],
      });
      if (shown.length > 30) this.log(`… and ${shown.length - 30} more partitions not done`);
    }
    const done = s.partitions.filter((p) => p.state === 'done').length;
    this.log(`Partitions ${done} of ${s.partitions.length} done`);
    const t = s.totals;
    this.log(`Loaded    ${int(t.loaded)} of ${int(t.sourceRows)} source rows (${percent(t.successRate)}): ${int(t.created)} created, ${int(t.updated)} updated`);
    this.log(`Failed    ${int(t.failed)}`);
    this.log(`Pending   ${int(t.pending)} read, not final yet; ${int(t.unread)} not read yet`);
    this.log(`Retried   ${int(t.retriedRows)} row retries, ${int(t.lockErrors)} lock errors${t.firstPassSuccessRate !== null ? `; ${percent(t.firstPassSuccessRate)} loaded on the first attempt` : ''}`);
    this.log(`Jobs      ${int(s.jobs.total)} (${s.jobs.inFlight} in flight, ${s.jobs.queued} queued, ${s.jobs.failedJobs} failed or aborted); ${int(s.apiCalls)} API calls`);
    if (s.duplicates.extraRows) this.log(`Duplicates ${int(s.duplicates.keys)} keys held by several rows (${int(s.duplicates.extraRows)} extra rows), e.g. ${s.duplicates.examples.slice(0, 3).join(', ')}`);
    const recent = s.timing.recentRowsPerSecond !== null ? `, recently ${int(s.timing.recentRowsPerSecond)}/s` : '';
    this.log(`Elapsed   ${duration(s.timing.elapsedSeconds)} over ${s.timing.sessions.length} session(s); ${int(s.timing.rowsPerSecond)} rows/s${recent}`);
    if (s.timing.etaSeconds !== null) this.log(`ETA       ${duration(s.timing.etaSeconds)}`);
    const codes = Object.entries(s.failuresByCode);
    if (codes.length) {
      this.log('');
      this.log('Failures by error code:');
      for (const [code, g] of codes.slice(0, 10)) this.log(`  ${code}  ${int(g.count)}  e.g. ${g.sampleKeys.join(', ')}: ${g.message}${g.retryable ? '' : ' (not retryable)'}`);
      this.log(`  Details: ${s.files.failures}`);
    }
    if (s.error) this.log(`\nError     ${s.error.name}: ${s.error.message}`);
    this.log('');
    this.log(s.health.message);
    if (s.health.next) this.log(messages.getMessage('info.next', [s.health.next]));
  }
}

/** One line per change while following a run. */
export function compactLine(s: RunStatus, withEta = true): string {
  const t = s.totals;
  const eta = withEta && s.timing.etaSeconds !== null ? `, ETA ${duration(s.timing.etaSeconds)}` : '';
  return `${s.state}: ${int(t.loaded)}/${int(t.sourceRows)} loaded (${percent(t.successRate)}), ${int(t.failed)} failed, ${int(t.pending + t.unread)} not loaded yet, ${s.jobs.inFlight} jobs in flight${eta}`;
}
