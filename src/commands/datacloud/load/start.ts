import { Messages } from '@salesforce/core';
import { SfCommand } from '@salesforce/sf-plugins-core';
import { startLoad } from '../../../engine/load.js';
import { definitionFlags, definitionFromFlags, notifyFlag, orgFlags, runsDirFlag, toSfError } from '../../../cli/flags.js';
import { endSession, interruptController, type LoadRunResult } from '../../../cli/run-result.js';
import { parseExit1 } from '../../../cli/run-errors.js';
import { LoadProgress } from '../../../ux/progress.js';
import { boundHeapGrowth } from '../../../cli/heap.js';

Messages.importMessagesDirectoryFromMetaUrl(import.meta.url);
const messages = Messages.loadMessages('@datacloud/plugin-datacloud-load', 'datacloud.load.start');

export default class LoadStart extends SfCommand<LoadRunResult> {
  public static readonly summary = messages.getMessage('summary');
  public static readonly description = messages.getMessage('description');
  public static readonly examples = messages.getMessages('examples');
  public static readonly flags = { ...orgFlags, ...definitionFlags, ...runsDirFlag, ...notifyFlag };

  public async run(): Promise<LoadRunResult> {
    const { flags } = await parseExit1(this.parse(LoadStart));
    boundHeapGrowth();
    let progress: LoadProgress | undefined;
    const interrupt = interruptController(() => this.warn(messages.getMessage('info.stopping')));
    try {
      const definition = definitionFromFlags(flags, (w) => this.warn(w));
      const conn = flags['target-org'].getConnection(flags['api-version']);
      const { run, outcome } = await startLoad(conn, definition, {
        runsDir: flags['runs-dir'],
        definitionFile: flags.definition,
        signal: interrupt.signal,
        onRunCreated: (r, m) => {
          this.log(messages.getMessage('info.runCreated', [r.runId, r.dir]));
          for (const w of m.plan.warnings) this.warn(w);
          progress = new LoadProgress({ title: `Loading ${m.plan.totalRows.toLocaleString('en-US')} rows into ${m.definition.target.object}`, jsonEnabled: this.jsonEnabled() });
        },
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
