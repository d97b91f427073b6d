import { Messages } from '@salesforce/core';
import { SfCommand } from '@salesforce/sf-plugins-core';
import { planLoad } from '../../../engine/load.js';
import { definitionFlags, definitionFromFlags, orgFlags, toSfError } from '../../../cli/flags.js';
import { parseExit1 } from '../../../cli/run-errors.js';
import type { LoadDefinition, LoadPlan } from '../../../state/types.js';

Messages.importMessagesDirectoryFromMetaUrl(import.meta.url);
const messages = Messages.loadMessages('@datacloud/plugin-datacloud-load', 'datacloud.load.plan');

export type LoadPlanResult = { definition: LoadDefinition; plan: LoadPlan };

export default class LoadPlanCommand extends SfCommand<LoadPlanResult> {
  public static readonly summary = messages.getMessage('summary');
  public static readonly description = messages.getMessage('description');
  public static readonly examples = messages.getMessages('examples');
  public static readonly flags = { ...orgFlags, ...definitionFlags };

  public async run(): Promise<LoadPlanResult> {
    const { flags } = await parseExit1(this.parse(LoadPlanCommand));
    try {
      const definition = definitionFromFlags(flags, (w) => this.warn(w));
      const conn = flags['target-org'].getConnection(flags['api-version']);
      this.spinner.start(messages.getMessage('info.planning', [definition.source.object, definition.target.object]));
      const { plan } = await planLoad(conn, definition);
      this.spinner.stop();
      this.styledHeader(messages.getMessage('info.header', [plan.totalRows.toLocaleString('en-US'), plan.partitions.length]));
      this.table({
        data: plan.partitions.slice(0, 50).map((p) => ({
          partition: p.index,
          from: p.nullKeys ? '(rows with no key)' : p.nullParent ? '(rows with no parent)' : p.lowerExclusive === null ? '(start)' : `> ${String(p.lowerExclusive)}`,
          to: p.nullKeys || p.nullParent ? '' : p.upperInclusive === null ? '(end)' : `<= ${String(p.upperInclusive)}`,
          rows: p.rows.toLocaleString('en-US'),
          starts: p.startOffsetSeconds ? `+${p.startOffsetSeconds}s` : 'at once',
        })),
      });
      if (plan.partitions.length > 50) this.log(`… and ${plan.partitions.length - 50} more partitions`);
      if (plan.duplicates.keys) {
        this.log(messages.getMessage('info.duplicates', [plan.duplicates.keys.toLocaleString('en-US'), definition.source.keyColumn, plan.duplicates.extraRows.toLocaleString('en-US'), plan.duplicates.examples.slice(0, 5).join(', ')]));
      }
      this.log(messages.getMessage('info.estimates', [plan.estimates.jobs, plan.estimates.internalBatches, plan.estimates.apiCalls, definition.pacing.profile, plan.rowsPerJob]));
      for (const [name, v] of Object.entries(plan.estimates.limits)) this.log(`  ${name}: needs ~${v.needed.toLocaleString('en-US')}, ${v.remaining.toLocaleString('en-US')} left`);
      for (const w of plan.warnings) this.warn(w);
      return { definition, plan };
    } catch (err) {
      this.spinner.stop('failed');
      throw toSfError(err);
    }
  }
}
