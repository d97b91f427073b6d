/*
 * sf datacloud load report: renders one or more runs (table, markdown, html) to stdout or to
 * --output-file; --json returns the report's data (schemas/report.json). Reads run files only.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Messages } from '@salesforce/core';
import { Flags, SfCommand } from '@salesforce/sf-plugins-core';
import { NoRunsError, RunDir, runsRoot } from '../../../state/run-dir.js';
import { parseExit1, runFileError } from '../../../cli/run-errors.js';
import { REPORT_FORMATS, buildReport, reportRun, type ReportFormat, type ReportResult } from '../../../report/model.js';
import { readRunHistory } from '../../../ledger/status.js';
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
    'run-id': Flags.string({ summary: messages.getMessage('flags.run-id.summary'), description: messages.getMessage('flags.run-id.description'), multiple: true, exclusive: ['all'] }),
    all: Flags.boolean({ summary: messages.getMessage('flags.all.summary'), exclusive: ['run-id'] }),
    'runs-dir': Flags.directory({ summary: messages.getMessage('flags.runs-dir.summary') }),
    format: Flags.option({
      summary: messages.getMessage('flags.format.summary'),
      description: messages.getMessage('flags.format.description'),
      options: REPORT_FORMATS,
      default: 'table' as ReportFormat,
    })(),
    'output-file': Flags.string({ summary: messages.getMessage('flags.output-file.summary'), description: messages.getMessage('flags.output-file.description') }),
  };

  public async run(): Promise<LoadReportResult> {
    const { flags } = await parseExit1(this.parse(LoadReport));
    const format = flags.format;
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
      report = buildReport(runs.map((r) => reportRun(readRunHistory(r))), format);
    } catch (err) {
      throw runFileError(err);
    }

    const file = flags['output-file'] ? resolve(flags['output-file']) : null;
    report.outputFile = file;
    if (!file && this.jsonEnabled()) return report;
    const content = format === 'html' ? renderHtml(report) : format === 'markdown' ? renderMarkdown(report) : renderText(report);
    if (file) {
      try {
        // The report names keys and failure messages (customer data): private to its owner when created.
        writeFileSync(file, content, { mode: 0o600 });
      } catch (err) {
        throw messages.createError('error.WriteFailed', [file, (err as Error).message]);
      }
      const ids = report.runs.map((r) => r.status.runId);
      this.log(messages.getMessage('info.written', [format, ids.length === 1 ? `run ${ids[0]}` : `${ids.length} runs`, file]));
    } else {
      if (format === 'html' && process.stdout.isTTY) this.warn(messages.getMessage('info.htmlToTerminal'));
      process.stdout.write(content);
    }
    return report;
  }
}
