import { Messages } from '@salesforce/core';
import { SfCommand } from '@salesforce/sf-plugins-core';
import { resumeLoad } from '../../../engine/load.js';
import { notifyFlag, orgFlags, runIdFlag, runsDirFlag, toSfError } from '../../../cli/flags.js';
import { endSession, interruptController, type LoadRunResult } from '../../../cli/run-result.js';
import { parseExit1 } from '../../../cli/run-errors.js';
import { LoadProgress } from '../../../ux/progress.js';
import { boundHeapGrowth } from '../../../cli/heap.js';

Messages.importMessagesDirectoryFromMetaUrl(import.meta.url);
const messages = Messages.loadMessages('@datacloud/plugin-datacloud-load', 'datacloud.load.resume');
const startMessages = Messages.loadMessages('@datacloud/plugin-datacloud-load', 'datacloud.load.start');

export default class LoadResume extends SfCommand<LoadRunResult> {
  public static readonly summary = messages.getMessage('summary');
  public static readonly description = messages.getMessage('description');
  public static readonly examples = messages.getMessages('examples');
  public static readonly flags = { ...orgFlags, ...runIdFlag, ...runsDirFlag, ...notifyFlag };

  public async run(): Promise<LoadRunResult> {
    const { flags } = await parseExit1(this.parse(LoadResume));
    boundHeapGrowth();
    let progress: LoadProgress | undefined;
    const interrupt = interruptController(() => this.warn(startMessages.getMessage('info.stopping')));
    try {
      const conn = flags['target-org'].getConnection(flags['api-version']);
      const { run, outcome } = await resumeLoad(conn, {
        runsDir: flags['runs-dir'],
        runId: flags['run-id'],
        signal: interrupt.signal,
        onRunCreated: (r, m) => {
          this.log(messages.getMessage('info.resuming', [r.runId, m.state]));
          progress = new LoadProgress({ title: `Resuming ${r.runId}`, jsonEnabled: this.jsonEnabled() });
        },
        onFound: (f) => this.log(messages.getMessage('info.found', [f.inFlight, f.queued, f.orphansAborted])),
        onProgress: (s) => progress?.update(s),
      });
      return await endSession(this, run, outcome, progress, flags['notify-url']);
    } catch (err) {
      progress?.stop({ state: 'failed', lines: [] });
      throw toSfError(err);
    } finally {
      interrupt.dispose();
    }
  }
}
