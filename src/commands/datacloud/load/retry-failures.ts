import { Messages } from '@salesforce/core';
import { Flags, SfCommand } from '@salesforce/sf-plugins-core';
import { retryFailures } from '../../../engine/load.js';
import { orgFlags, runIdFlag, runsDirFlag, toSfError } from '../../../cli/flags.js';
import { endSession, interruptController, type LoadRunResult } from '../../../cli/run-result.js';
import { parseExit1 } from '../../../cli/run-errors.js';
import { LoadProgress } from '../../../ux/progress.js';

Messages.importMessagesDirectoryFromMetaUrl(import.meta.url);
const messages = Messages.loadMessages('@datacloud/plugin-datacloud-load', 'datacloud.load.retry-failures');
const startMessages = Messages.loadMessages('@datacloud/plugin-datacloud-load', 'datacloud.load.start');

export type RetryFailuresResult = LoadRunResult & { selected: number };

export default class LoadRetryFailures extends SfCommand<RetryFailuresResult> {
  public static readonly summary = messages.getMessage('summary');
  public static readonly description = messages.getMessage('description');
  public static readonly examples = messages.getMessages('examples');
  public static readonly flags = {
    ...orgFlags,
    ...runIdFlag,
    ...runsDirFlag,
    'error-code': Flags.string({ multiple: true, summary: messages.getMessage('flags.error-code.summary') }),
    'use-stored-rows': Flags.boolean({ summary: messages.getMessage('flags.use-stored-rows.summary') }),
  };

  public async run(): Promise<RetryFailuresResult> {
    const { flags } = await parseExit1(this.parse(LoadRetryFailures));
    let progress: LoadProgress | undefined;
    const interrupt = interruptController(() => this.warn(startMessages.getMessage('info.stopping')));
    try {
      const conn = flags['target-org'].getConnection(flags['api-version']);
      const { run, outcome, selected } = await retryFailures(conn, {
        runsDir: flags['runs-dir'],
        runId: flags['run-id'],
        errorCodes: flags['error-code'],
        useStoredRows: flags['use-stored-rows'],
        signal: interrupt.signal,
        onRunCreated: (r, m) => {
          progress = new LoadProgress(m.plan.partitions.length, `Retrying failed rows of ${r.runId}`, this.jsonEnabled());
        },
        onProgress: (s) => progress?.update(s),
      });
      const result = { ...endSession(this, run, outcome, progress), selected };
      this.log(messages.getMessage('info.done', [selected, result.totals.loaded.toLocaleString('en-US'), result.totals.failed.toLocaleString('en-US')]));
      return result;
    } catch (err) {
      progress?.stop(false);
      throw toSfError(err);
    } finally {
      interrupt.dispose();
    }
  }
}
