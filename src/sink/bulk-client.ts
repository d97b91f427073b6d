/*
 * Bulk API 2.0 ingest over plain REST calls of the Connection (salesforce-api.md §2).
 * One method per HTTP call; no polling loop, no retries, no waiting: the engine drives
 * the lifecycle (create → one upload → close → poll getJob → results → delete).
 * Uploads are strings or Buffers (never streams), results come back as raw CSV text,
 * never parsed by jsforce (whose parser splits on any delimiter).
 */
import type { Connection } from '@salesforce/core';
import { SalesforceApiError } from '../core/errors.js';
import { apiUrl, requestJson, requestText } from '../core/org-api.js';

export type JobState = 'Open' | 'UploadComplete' | 'InProgress' | 'JobComplete' | 'Failed' | 'Aborted';
export type ColumnDelimiter = 'BACKQUOTE' | 'CARET' | 'COMMA' | 'PIPE' | 'SEMICOLON' | 'TAB';
export type LineEnding = 'LF' | 'CRLF';
export type IngestOperation = 'upsert' | 'insert' | 'update';

export type JobInfo = {
  id: string;
  state: JobState;
  object: string;
  operation: string;
  externalIdFieldName?: string;
  numberRecordsProcessed?: number;
  numberRecordsFailed?: number;
  retries?: number;
  errorMessage?: string;
  createdDate?: string;
  systemModstamp?: string;
  totalProcessingTime?: number;
  apiActiveProcessingTime?: number;
  apexProcessingTime?: number;
  columnDelimiter?: ColumnDelimiter;
  lineEnding?: LineEnding;
  apiVersion?: number;
  jobType?: string;
  contentType?: string;
  concurrencyMode?: string;
  createdById?: string;
  contentUrl?: string;
};

export type CreateJobOptions = {
  object: string;
  operation: IngestOperation;
  externalIdFieldName?: string;
  lineEnding?: LineEnding;
  columnDelimiter?: ColumnDelimiter;
  assignmentRuleId?: string;
};

export const TERMINAL_STATES: ReadonlySet<JobState> = new Set(['JobComplete', 'Failed', 'Aborted']);

const BASE = '/jobs/ingest';

export class BulkIngestClient {
  public constructor(private readonly conn: Connection) {}

  /** POST /jobs/ingest. */
  public async createJob(o: CreateJobOptions): Promise<JobInfo> {
    if (o.operation === 'upsert' && !o.externalIdFieldName) throw new Error('An upsert job needs externalIdFieldName.');
    const body = {
      object: o.object,
      operation: o.operation,
      contentType: 'CSV',
      ...(o.externalIdFieldName ? { externalIdFieldName: o.externalIdFieldName } : {}),
      ...(o.lineEnding ? { lineEnding: o.lineEnding } : {}),
      ...(o.columnDelimiter ? { columnDelimiter: o.columnDelimiter } : {}),
      ...(o.assignmentRuleId ? { assignmentRuleId: o.assignmentRuleId } : {}),
    };
    return jobInfo(await requestJson(this.conn, { method: 'POST', path: BASE, json: body }), 'create job');
  }

  /** PUT /jobs/ingest/{id}/batches: the job's one and only upload (201, no body). */
  public async upload(jobId: string, csv: string | Buffer): Promise<void> {
    await requestText(this.conn, {
      method: 'PUT',
      path: `${jobPath(jobId)}/batches`,
      body: csv,
      headers: { 'content-type': 'text/csv', accept: 'application/json' },
    });
  }

  /** PATCH state UploadComplete: the org starts processing. */
  public close(jobId: string): Promise<JobInfo> {
    return this.setState(jobId, 'UploadComplete');
  }

  /** PATCH state Aborted. */
  public abort(jobId: string): Promise<JobInfo> {
    return this.setState(jobId, 'Aborted');
  }

  /** GET /jobs/ingest/{id}. */
  public async getJob(jobId: string): Promise<JobInfo> {
    return jobInfo(await requestJson(this.conn, { method: 'GET', path: jobPath(jobId) }), 'get job');
  }

  /** DELETE /jobs/ingest/{id} (only UploadComplete, JobComplete, Aborted, Failed jobs). */
  public async deleteJob(jobId: string): Promise<void> {
    await requestText(this.conn, { method: 'DELETE', path: jobPath(jobId) });
  }

  /** GET /jobs/ingest, following nextRecordsUrl until done. */
  public async listJobs(opts: { jobType?: 'V2Ingest' | 'Classic' | 'BigObjectIngest' } = {}): Promise<JobInfo[]> {
    const out: JobInfo[] = [];
    let url: string | undefined = apiUrl(this.conn, BASE, opts.jobType ? { jobType: opts.jobType } : {});
    const seen = new Set<string>();
    while (url) {
      if (seen.has(url)) throw new SalesforceApiError(`list jobs: nextRecordsUrl repeats (${url})`, { errorCode: 'INVALID_RESPONSE', transient: false });
      seen.add(url);
      const page: { done?: boolean; records?: unknown[]; nextRecordsUrl?: string | null } =
        (await requestJson(this.conn, { method: 'GET', path: url })) ?? {};
      for (const r of page.records ?? []) out.push(jobInfo(r, 'list jobs'));
      url = page.done === false && page.nextRecordsUrl ? new URL(page.nextRecordsUrl, this.conn.instanceUrl).toString() : undefined;
    }
    return out;
  }

  /** Raw CSV: "sf__Id","sf__Created", then the uploaded columns. */
  public successfulResults(jobId: string): Promise<string> {
    return this.csv(jobId, 'successfulResults');
  }

  /** Raw CSV: "sf__Id","sf__Error", then the uploaded columns. */
  public failedResults(jobId: string): Promise<string> {
    return this.csv(jobId, 'failedResults');
  }

  /** Raw CSV of rows never processed (Failed or Aborted jobs): the uploaded columns only. */
  public unprocessedRecords(jobId: string): Promise<string> {
    return this.csv(jobId, 'unprocessedrecords');
  }

  private async setState(jobId: string, state: 'UploadComplete' | 'Aborted'): Promise<JobInfo> {
    return jobInfo(await requestJson(this.conn, { method: 'PATCH', path: jobPath(jobId), json: { state } }), `set job state ${state}`);
  }

  private csv(jobId: string, kind: 'successfulResults' | 'failedResults' | 'unprocessedrecords'): Promise<string> {
    return requestText(this.conn, { method: 'GET', path: `${jobPath(jobId)}/${kind}`, headers: { accept: 'text/csv' } });
  }
}

function jobPath(jobId: string): string {
  if (typeof jobId !== 'string' || !/^[A-Za-z0-9]{1,40}$/.test(jobId)) {
    throw new SalesforceApiError(`Not a Bulk API job id: ${JSON.stringify(jobId)}`, { errorCode: 'INVALID_ID', transient: false });
  }
  return `${BASE}/${jobId}`;
}

const NUMERIC: Array<keyof JobInfo> = [
  'numberRecordsProcessed',
  'numberRecordsFailed',
  'retries',
  'totalProcessingTime',
  'apiActiveProcessingTime',
  'apexProcessingTime',
  'apiVersion',
];

/** Validate and normalise a JobInfo answer (numbers that arrive as strings become numbers). */
function jobInfo(raw: unknown, what: string): JobInfo {
  if (!raw || typeof raw !== 'object' || typeof (raw as JobInfo).id !== 'string' || typeof (raw as JobInfo).state !== 'string') {
    throw new SalesforceApiError(`${what}: the answer is not a job (${JSON.stringify(raw)?.slice(0, 200)})`, {
      errorCode: 'INVALID_RESPONSE',
      transient: false,
    });
  }
  const info = { ...(raw as Record<string, unknown>) };
  for (const k of NUMERIC) {
    const v = info[k];
    if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) info[k] = Number(v);
    else if (v === null) delete info[k];
  }
  for (const k of ['errorMessage', 'externalIdFieldName'] as const) if (info[k] === null) delete info[k];
  return info as unknown as JobInfo;
}
