/*
 * The errors status, report and cancel share, with actions: no runs yet, an unknown run id
 * (listing the ids there are), a damaged status file (which file, which line, that nothing
 * was changed, and how to recover for that kind of file). Messages: datacloud.load.status.md.
 */
import { basename, dirname } from 'node:path';
import { Messages, SfError } from '@salesforce/core';
import { CorruptStatusFileError } from '../state/files.js';
import { InvalidRunIdError, NoRunsError, RunDir, RunNotFoundError, RunVersionError } from '../state/run-dir.js';

Messages.importMessagesDirectoryFromMetaUrl(import.meta.url);
const messages = Messages.loadMessages('@datacloud/plugin-datacloud-load', 'datacloud.load.status');

/**
 * oclif exits 2 on a flag error; here 2 means "finished with failed rows", so a usage
 * error exits 1 like every other command error.
 */
export async function parseExit1<T>(parsing: Promise<T>): Promise<T> {
  try {
    return await parsing;
  } catch (err) {
    const e = err as Error & { oclif?: { exit?: number } };
    const sf = SfError.wrap(e);
    sf.exitCode = 1;
    if (e.oclif) e.oclif.exit = 1;
    throw sf;
  }
}

export function runFileError(err: unknown): Error {
  if (err instanceof SfError) return err;
  if (err instanceof NoRunsError) return messages.createError('error.NoRuns', [err.root]);
  if (err instanceof RunNotFoundError) {
    const ids = RunDir.list(err.root);
    const known = ids.length ? `Runs there, latest last: ${ids.slice(-10).join(', ')}${ids.length > 10 ? ` (and ${ids.length - 10} older)` : ''}.` : 'There are no runs there yet.';
    const e = messages.createError('error.UnknownRunId', [err.runId, err.root], [known]);
    e.setData({ runId: err.runId, runsDir: err.root, runs: ids });
    return e;
  }
  if (err instanceof InvalidRunIdError) {
    const e = messages.createError('error.InvalidRunId', [err.runId]);
    e.setData({ runId: err.runId });
    return e;
  }
  if (err instanceof RunVersionError) return messages.createError('error.RunVersion', [err.runId, String(err.version)]);
  if (err instanceof CorruptStatusFileError) return corruptFileError(err);
  return err instanceof Error ? err : new Error(String(err));
}

function corruptFileError(err: CorruptStatusFileError): SfError {
  const file = err.file;
  const name = basename(file);
  const runDir = dirname(file);
  const runId = basename(runDir);
  const detail = err.message.startsWith(`${file}: `) ? err.message.slice(file.length + 2) : err.message;
  const line = /line (\d+)/.exec(detail)?.[1];
  let how: string;
  if (name === 'jobs.ndjson') how = messages.getMessage('info.corrupt.jobLog', [line ?? '1', file, runId]);
  else if (name === 'failures.ndjson') how = messages.getMessage('info.corrupt.failures', [line ?? '?', line ?? '1', file]);
  else if (name === 'events.ndjson') how = messages.getMessage('info.corrupt.events', [file, file]);
  else if (name === 'lock.json') how = messages.getMessage('info.corrupt.lock', [file, runId]);
  else if (name === 'run.json') how = messages.getMessage('info.corrupt.manifest');
  else how = messages.getMessage('info.corrupt.other', [file, file, runId]);
  const e = messages.createError('error.CorruptStatusFile', [file, detail], [how, runDir]);
  e.setData({ file, line: line ? Number(line) : null, runId, runDir });
  return e;
}
