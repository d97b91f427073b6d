import { setTimeout as sleep } from 'node:timers/promises';
import { Messages } from '@salesforce/core';
import { Flags, SfCommand } from '@salesforce/sf-plugins-core';
import { RunDir, runsRoot } from '../../../state/run-dir.js';
import { summarizeRun, type RunStatus } from '../../../state/summary.js';
import { parseExit1, runFileError } from '../../../cli/run-errors.js';
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
    wait: Flags.boolean({ summary: messages.getMessage('flags.wait.summary'), description: messages.getMessage('flags.wait.description') }),
    interval: Flags.integer({ summary: messages.getMessage('flags.interval.summary'), min: 1, default: 5 }),
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
      status = summarizeRun(run, { minSuccessRate });
      if (flags.wait && status.health.verdict === 'in-progress') {
        this.log(messages.getMessage('info.waiting', [run.runId, flags.interval]));
        let last = '';
        while (status.health.verdict === 'in-progress') {
          const key = compactLine(status, false);
          if (key !== last) this.log(`${new Date().toISOString().slice(11, 19)} ${compactLine(status)}`);
          last = key;
          // eslint-disable-next-line no-await-in-loop
          await sleep(flags.interval * 1000);
          status = summarizeRun(run, { minSuccessRate });
        }
        this.log(`${new Date().toISOString().slice(11, 19)} ${compactLine(status)}`);
        this.log('');
      }
    } catch (err) {
      throw runFileError(err);
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
    if (s.org.username) this.log(`Org       ${s.org.username}`);
    this.log(
      `Settings  ${s.settings.profile} (${s.settings.strategy}), ${s.settings.plannedPartitions} partitions by ${s.settings.partitionBy}, ${int(s.settings.rowsPerJob)} rows/job, up to ${s.settings.maxAttempts} attempts per row`
    );
    this.log('');
    this.table({
      data: s.partitions.map((p) => ({
        partition: p.index,
        state: p.state,
        read: `${int(p.read)} / ${int(p.plannedRows)}`,
        loaded: int(p.loaded),
        failed: int(p.failed),
        retried: int(p.retriedRows),
        jobs: int(p.jobs),
        inFlight: int(p.inFlight),
      })),
      columns: [
        { key: 'partition', name: 'Partition' },
        { key: 'state', name: 'State' },
        { key: 'read', name: 'Read / planned' },
        { key: 'loaded', name: 'Loaded' },
        { key: 'failed', name: 'Failed' },
        { key: 'retried', name: 'Retried rows' },
        { key: 'jobs', name: 'Jobs' },
        { key: 'inFlight', name: 'In flight' },
      ],
    });
    const t = s.totals;
    this.log(`Loaded    ${int(t.loaded)} of ${int(t.sourceRows)} (${percent(t.successRate)}): ${int(t.created)} created, ${int(t.updated)} updated`);
    this.log(`Failed    ${int(t.failed)}`);
    this.log(`Pending   ${int(t.pending)} (${int(t.read)} of ${int(t.sourceRows)} rows read)`);
    this.log(`Retried   ${int(t.retriedRows)} rows${t.firstPassSuccessRate !== null ? `; ${percent(t.firstPassSuccessRate)} loaded on the first attempt` : ''}`);
    this.log(`Jobs      ${int(s.jobs.total)} (${s.jobs.inFlight} in flight, ${s.jobs.queued} queued, ${s.jobs.failedJobs} failed or aborted); ${int(s.apiCalls)} API calls`);
    const recent = s.timing.recentThroughputPerMinute !== null ? `, recently ${int(s.timing.recentThroughputPerMinute)}/min` : '';
    this.log(`Elapsed   ${duration(s.timing.elapsedSeconds)} over ${s.timing.sessions.length} session(s); ${int(s.timing.throughputPerMinute)} rows/min${recent}`);
    if (s.timing.etaSeconds !== null) this.log(`ETA       ${duration(s.timing.etaSeconds)}`);
    const codes = Object.entries(s.failuresByCode).sort((a, b) => b[1].count - a[1].count);
    if (codes.length) {
      this.log('');
      this.log('Failures by error code:');
      for (const [code, g] of codes.slice(0, 10)) this.log(`  ${code}  ${int(g.count)}  e.g. ${g.sampleKeys.join(', ')}: ${g.message}`);
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
  return `${s.state}: ${int(t.loaded)}/${int(t.sourceRows)} loaded (${percent(t.successRate)}), ${int(t.failed)} failed, ${int(t.pending)} pending, ${s.jobs.inFlight} jobs in flight${eta}`;
}
