import { Messages } from '@salesforce/core';
import { Flags, SfCommand } from '@salesforce/sf-plugins-core';
import { retryFailures } from '../../../engine/load.js';
import { notifyFlag, orgFlags, runIdFlag, runsDirFlag, toSfError } from '../../../cli/flags.js';
import { endSession, interruptController, type LoadRunResult } from '../../../cli/run-result.js';
import { parseExit1 } from '../../../cli/run-errors.js';
import { LoadProgress } from '../../../ux/progress.js';
import { boundHeapGrowth } from '../../../cli/heap.js';

Messages.importMessagesDirectoryFromMetaUrl(import.meta.url);
const messages = Messages.loadMessages('@datacloud/plugin-datacloud-load', 'datacloud.load.retry-failures');
const startMessages = Messages.loadMessages('@datacloud/plugin-datacloud-load', 'datacloud.load.start');

export type RetryFailuresResult = LoadRunResult & { selected: number; sent: number; unchanged: number; resumedInterrupted: boolean };

export default class LoadRetryFailures extends SfCommand<RetryFailuresResult> {
  public static readonly summary = messages.getMessage('summary');
  public static readonly description = messages.getMessage('description');
  public static readonly examples = messages.getMessages('examples');
  public static readonly flags = {
    ...orgFlags,
    ...runIdFlag,
    ...runsDirFlag,
    ...notifyFlag,
    'error-code': Flags.string({ multiple: true, summary: messages.getMessage('flags.error-code.summary') }),
    'use-stored-rows': Flags.boolean({ summary: messages.getMessage('flags.use-stored-rows.summary') }),
  };

  public async run(): Promise<RetryFailuresResult> {
    const { flags } = await parseExit1(this.parse(LoadRetryFailures));
    boundHeapGrowth();
    let progress: LoadProgress | undefined;
    const interrupt = interruptController(() => this.warn(startMessages.getMessage('info.stopping')));
    try {
      const conn = flags['target-org'].getConnection(flags['api-version']);
      const r = await retryFailures(conn, {
        runsDir: flags['runs-dir'],
        runId: flags['run-id'],
        errorCodes: flags['error-code'],
        useStoredRows: flags['use-stored-rows'],
        signal: interrupt.signal,
        onRunCreated: (run) => {
          progress = new LoadProgress({ title: `Retrying failed rows of ${run.runId}`, jsonEnabled: this.jsonEnabled() });
        },
        onProgress: (s) => progress?.update(s),
      });
      const result = { ...(await endSession(this, r.run, r.outcome, progress, flags['notify-url'])), selected: r.selected, sent: r.sent, unchanged: r.unchanged, resumedInterrupted: r.resumedInterrupted };
      const n = (x: number): string => x.toLocaleString('en-US');
      if (r.resumedInterrupted) this.log(messages.getMessage('info.resumedInterrupted'));
      else this.log(messages.getMessage('info.done', [n(r.selected), n(r.sent), n(r.unchanged), n(result.totals.loaded), n(result.totals.failed)]));
      return result;
    } catch (err) {
      progress?.stop({ state: 'failed', lines: [] });
      throw toSfError(err);
    } finally {
      interrupt.dispose();
    }
  }
}
