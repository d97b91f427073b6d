/*
 * HTTP helpers shared by the emulator's tests: authenticated calls, Bulk job steps
 * (create, upload, close, wait, results) and query-sql calls, all over real HTTP.
 */
import { expect } from 'chai';
import { parse } from 'csv-parse/sync';
import type { SObjectDef } from './config.js';
import type { Emulator } from './server.js';

export const V = '/services/data/v64.0';

export type JobInfo = Record<string, unknown> & {
  id: string;
  state: string;
  numberRecordsProcessed: number;
  numberRecordsFailed: number;
  errorMessage?: string;
};

export async function call(emu: Emulator, method: string, path: string, body?: unknown, contentType = 'application/json; charset=utf-8'): Promise<Response> {
  const headers: Record<string, string> = { Authorization: `Bearer ${emu.token}` };
  if (body !== undefined) headers['Content-Type'] = contentType;
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : body instanceof Uint8Array ? new Blob([body as Uint8Array<ArrayBuffer>]) : JSON.stringify(body);
  return fetch(emu.url + path, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
}

export async function callJson<T = any>(emu: Emulator, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await call(emu, method, path, body);
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

export type JobOpts = { object?: string; operation?: string; externalIdFieldName?: string; lineEnding?: string; columnDelimiter?: string };

export async function createJob(emu: Emulator, opts: JobOpts = {}): Promise<JobInfo> {
  const operation = opts.operation ?? 'upsert';
  const r = await callJson<JobInfo>(emu, 'POST', `${V}/jobs/ingest`, {
    object: opts.object ?? 'Opportunity',
    operation,
    ...(operation === 'upsert' ? { externalIdFieldName: opts.externalIdFieldName ?? 'External_ID__c' } : {}),
    lineEnding: opts.lineEnding ?? 'LF',
    columnDelimiter: opts.columnDelimiter ?? 'COMMA',
  });
  expect(r.status, JSON.stringify(r.body)).to.equal(200);
  return r.body;
}

export async function upload(emu: Emulator, id: string, csv: string | Uint8Array): Promise<Response> {
  return call(emu, 'PUT', `${V}/jobs/ingest/${id}/batches`, csv, 'text/csv');
}

export async function close(emu: Emulator, id: string): Promise<Response> {
  return call(emu, 'PATCH', `${V}/jobs/ingest/${id}`, { state: 'UploadComplete' });
}

/** Create, upload, close; returns the job id. */
export async function submit(emu: Emulator, csv: string, opts: JobOpts = {}): Promise<string> {
  const job = await createJob(emu, opts);
  expect((await upload(emu, job.id, csv)).status).to.equal(201);
  expect((await close(emu, job.id)).status).to.equal(200);
  return job.id;
}

export async function info(emu: Emulator, id: string): Promise<JobInfo> {
  const r = await callJson<JobInfo>(emu, 'GET', `${V}/jobs/ingest/${id}`);
  expect(r.status).to.equal(200);
  return r.body;
}

export async function waitDone(emu: Emulator, id: string, timeoutMs = 10_000): Promise<JobInfo> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const j = await info(emu, id);
    if (j.state === 'JobComplete' || j.state === 'Failed' || j.state === 'Aborted') return j;
    if (Date.now() > until) throw new Error(`job ${id} still ${j.state}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function results(emu: Emulator, id: string, kind: string): Promise<{ text: string; rows: Array<Record<string, string>> }> {
  const res = await call(emu, 'GET', `${V}/jobs/ingest/${id}/${kind}`);
  expect(res.status).to.equal(200);
  const text = await res.text();
  return { text, rows: parse(text, { columns: true, relax_quotes: false }) as Array<Record<string, string>> };
}

export async function sql(emu: Emulator, text: string, extra: Record<string, unknown> = {}): Promise<{ status: number; body: any; text: string }> {
  const res = await call(emu, 'POST', `${V}/ssot/query-sql`, { sql: text, ...extra });
  const raw = await res.text();
  return { status: res.status, body: raw ? JSON.parse(raw) : undefined, text: raw };
}

/** A small org: Account (parent) and Opportunity with a lookup to it, both with External_ID__c. */
export function smallOrg(caseSensitive = false): Record<string, SObjectDef> {
  return {
    Account: {
      name: 'Account',
      fields: [
        { name: 'Id', type: 'id' },
        { name: 'Name', type: 'string' },
        { name: 'External_ID__c', type: 'string', externalId: true, unique: true, caseSensitive },
      ],
    },
    Opportunity: {
      name: 'Opportunity',
      fields: [
        { name: 'Id', type: 'id' },
        { name: 'Name', type: 'string' },
        { name: 'Description', type: 'textarea', length: 32_000 },
        { name: 'StageName', type: 'picklist' },
        { name: 'Amount', type: 'currency' },
        { name: 'AccountId', type: 'reference', referenceTo: ['Account'], relationshipName: 'Account' },
        { name: 'External_ID__c', type: 'string', externalId: true, unique: true, caseSensitive },
      ],
    },
  };
}
