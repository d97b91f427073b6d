import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Messages } from '@salesforce/core';
import { Flags, SfCommand } from '@salesforce/sf-plugins-core';
import { NoRunsError, RunDir, runsRoot } from '../../../state/run-dir.js';
import { runFileError } from '../../../cli/run-errors.js';
import { buildReport, reportRun, type ReportFormat, type ReportResult } from '../../../report/model.js';
import { renderHtml } from '../../../report/html.js';
import { renderMarkdown, renderText } from '../../../report/text.js';

Messages.importMessagesDirectoryFromMetaUrl(import.meta.url);
const messages = Messages.loadMessages('@datacloud/plugin-datacloud-load', 'datacloud.load.report');

export type LoadReportResult = ReportResult;

export default class LoadReport extends SfCommand<LoadReportResult> {
  public static readonly summary = messages.getMessage('summary');
  public static readonly description = messages.getMessage('description');
  public static readonly examples = messages.getMessages('examples');
  public static readonly flags = {
    'run-id': Flags.string({ summary: messages.getMessage('flags.run-id.summary'), multiple: true, exclusive: ['all'] }),
    all: Flags.boolean({ summary: messages.getMessage('flags.all.summary'), exclusive: ['run-id'] }),
    'runs-dir': Flags.directory({ summary: messages.getMessage('flags.runs-dir.summary') }),
    format: Flags.option({ summary: messages.getMessage('flags.format.summary'), options: ['table', 'markdown', 'json', 'html'] as const, default: 'table' as const })(),
    'output-file': Flags.string({ summary: messages.getMessage('flags.output-file.summary') }),
  };

  public async run(): Promise<LoadReportResult> {
    const { flags } = await this.parse(LoadReport);
    const format: ReportFormat = flags.format;
    let report: ReportResult;
    try {
      const root = runsRoot(flags['runs-dir']);
      let runs: RunDir[];
      if (flags.all) {
        const ids = RunDir.list(root);
        if (ids.length === 0) throw new NoRunsError(root);
        runs = ids.map((id) => RunDir.open(root, id));
      } else if (flags['run-id']?.length) {
        runs = [...new Set(flags['run-id'])].map((id) => RunDir.open(root, id));
      } else {
        runs = [RunDir.open(root)];
      }
      report = buildReport(runs.map(reportRun), format);
    } catch (err) {
      throw runFileError(err);
    }

    const ids = report.runs.map((r) => r.status.runId);
    const defaultFile = ids.length === 1 ? `report-${ids[0]}.html` : `report-${ids.length}-runs-${ids[ids.length - 1]}.html`;
    const file = flags['output-file'] ? resolve(flags['output-file']) : format === 'html' ? resolve(defaultFile) : null;
    report.outputFile = file;
    const content =
      format === 'html' ? renderHtml(report) : format === 'markdown' ? renderMarkdown(report) : format === 'json' ? JSON.stringify(report, null, 2) + '\n' : renderText(report);
    if (file) {
      try {
        writeFileSync(file, content);
      } catch (err) {
        throw messages.createError('error.WriteFailed', [file, (err as Error).message]);
      }
      this.log(messages.getMessage('info.written', [format, ids.length === 1 ? `run ${ids[0]}` : `${ids.length} runs`, file]));
    } else if (!this.jsonEnabled()) {
      process.stdout.write(content);
    }
    return report;
  }
}
