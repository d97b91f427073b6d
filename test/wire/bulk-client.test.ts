import { expect } from 'chai';
import type { Connection } from '@salesforce/core';
import { startEmulator, type Emulator } from '../emulator/server.js';
import type { SObjectDef } from '../emulator/config.js';
import { connectTo } from '../helpers/connection.js';
import { BulkIngestClient, TERMINAL_STATES, type JobInfo } from '../../src/sink/bulk-client.js';
import { buildCsv } from '../../src/sink/csv.js';
import { parseResultCsv, parseSfError } from '../../src/sink/results.js';
import { SalesforceApiError, toApiError } from '../../src/core/errors.js';
import { describeSObject, getLimits } from '../../src/core/org-api.js';

const SOBJECTS: Record<string, SObjectDef> = {
  Account: {
    name: 'Account',
    fields: [
      { name: 'Id', type: 'id' },
      { name: 'Name', type: 'string' },
      { name: 'External_ID__c', type: 'string', externalId: true, unique: true },
    ],
  },
  Contact: {
    name: 'Contact',
    fields: [
      { name: 'Id', type: 'id' },
      { name: 'LastName', type: 'string', nillable: false },
      { name: 'Birthdate', type: 'date' },
      { name: 'AccountId', type: 'reference', referenceTo: ['Account'], relationshipName: 'Account' },
      { name: 'DC_Key__c', type: 'string', externalId: true, unique: true },
    ],
  },
};

async function waitDone(bulk: BulkIngestClient, id: string): Promise<JobInfo> {
  const until = Date.now() + 20_000;
  for (;;) {
    const info = await bulk.getJob(id);
    if (TERMINAL_STATES.has(info.state)) return info;
    if (Date.now() > until) throw new Error(`job ${id} still ${info.state}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function rejected(p: Promise<unknown>): Promise<SalesforceApiError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(SalesforceApiError);
    return err as SalesforceApiError;
  }
  throw new Error('expected a rejection');
}

describe('wire: BulkIngestClient against the emulator', function () {
  this.timeout(60_000);
  let emu: Emulator;
  let conn: Connection;
  let bulk: BulkIngestClient;

  before(async () => {
    emu = await startEmulator({ timeScale: 500, sobjects: SOBJECTS });
    conn = await connectTo(emu);
    bulk = new BulkIngestClient(conn);
  });
  after(async () => emu?.close());
  afterEach(() => emu.configure({ faults: [], bulk: { rowRules: [] } }));

  it('runs the full lifecycle and returns raw result CSVs', async () => {
    emu.configure({
      bulk: { rowRules: [{ name: 'no-bad', code: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: 'Name must not start with Bad', fields: ['LastName'], match: { field: 'LastName', regex: '^Bad' } }] },
    });
    const created = await bulk.createJob({ object: 'Contact', operation: 'upsert', externalIdFieldName: 'DC_Key__c', lineEnding: 'LF', columnDelimiter: 'COMMA' });
    expect(created.id).to.match(/^750/);
    expect(created.state).to.equal('Open');
    expect(created.object).to.equal('Contact');
    const csv = buildCsv(
      ['DC_Key__c', 'LastName', 'Birthdate'],
      [
        ['K1', "O'Brien, \"Jr\"", '1980-01-02'],
        ['K2', 'Bad; Row | x', null],
        ['K3', 'Smith', '1990-12-31'],
      ]
    );
    await bulk.upload(created.id, csv);
    const closed = await bulk.close(created.id);
    expect(['UploadComplete', 'InProgress', 'JobComplete']).to.include(closed.state);
    const done = await waitDone(bulk, created.id);
    expect(done.state).to.equal('JobComplete');
    expect(done.numberRecordsProcessed).to.equal(3);
    expect(done.numberRecordsFailed).to.equal(1);
    expect(done.retries).to.be.a('number');

    const ok = await bulk.successfulResults(created.id);
    expect(ok).to.be.a('string');
    expect(ok.split('\n')[0]).to.match(/^"sf__Id","sf__Created"/);
    const okRows = parseResultCsv(ok, done.columnDelimiter);
    expect(okRows.map((r) => r.DC_Key__c).sort()).to.deep.equal(['K1', 'K3']);
    expect(okRows.find((r) => r.DC_Key__c === 'K1')!.LastName).to.equal("O'Brien, \"Jr\"");
    expect(okRows.every((r) => r.sf__Created === 'true')).to.equal(true);

    const failed = parseResultCsv(await bulk.failedResults(created.id));
    expect(failed).to.have.length(1);
    expect(failed[0].LastName).to.equal('Bad; Row | x');
    expect(parseSfError(failed[0].sf__Error)).to.deep.include({ code: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: 'Name must not start with Bad' });

    expect(parseResultCsv(await bulk.unprocessedRecords(created.id))).to.deep.equal([]);
    expect((await bulk.listJobs()).map((j) => j.id)).to.include(created.id);
    await bulk.deleteJob(created.id);
    expect((await rejected(bulk.getJob(created.id))).errorCode).to.equal('NOT_FOUND');
  });

  it('a Failed job carries its errorMessage; unprocessed rows come back raw', async () => {
    const job = await bulk.createJob({ object: 'Contact', operation: 'upsert', externalIdFieldName: 'DC_Key__c', lineEnding: 'LF' });
    await bulk.upload(job.id, Buffer.from('DC_Key__c,LastName,NoSuchField__c\nK9,Nine,x\n'));
    await bulk.close(job.id);
    const done = await waitDone(bulk, job.id);
    expect(done.state).to.equal('Failed');
    expect(done.errorMessage).to.match(/InvalidBatch : Field name not found : NoSuchField__c/);
    const unprocessed = await bulk.unprocessedRecords(job.id);
    expect(parseResultCsv(unprocessed).map((r) => r.DC_Key__c)).to.deep.equal(['K9']);
  });

  it('abort an open job', async () => {
    const job = await bulk.createJob({ object: 'Account', operation: 'insert' });
    const aborted = await bulk.abort(job.id);
    expect(aborted.state).to.equal('Aborted');
    await bulk.deleteJob(job.id);
  });

  it('unknown job → NOT_FOUND 404, not transient', async () => {
    const e = await rejected(bulk.getJob('750000000000000AAA'));
    expect(e.errorCode).to.equal('NOT_FOUND');
    expect(e.status).to.equal(404);
    expect(e.transient).to.equal(false);
    expect(e.message).to.equal('The requested resource does not exist');
  });

  it('a second upload and a bad state change are 400 errors with the server code', async () => {
    const job = await bulk.createJob({ object: 'Account', operation: 'insert' });
    await bulk.upload(job.id, 'Name\nA\n');
    const e = await rejected(bulk.upload(job.id, 'Name\nB\n'));
    expect(e.status).to.equal(400);
    expect(e.transient).to.equal(false);
    await bulk.close(job.id);
    const e2 = await rejected(bulk.close(job.id));
    expect(e2.status).to.equal(400);
    expect(e2.errorCode).to.match(/INVALIDJOBSTATE/i);
    await waitDone(bulk, job.id);
  });

  it('invalid create options surface as SalesforceApiError', async () => {
    const e = await rejected(bulk.createJob({ object: 'Nope__c', operation: 'insert' }));
    expect(e.status).to.equal(400);
    expect(e.message).to.match(/Unable to find object/);
  });

  it('injected 5xx → transient, with the status; no hidden jsforce retries', async () => {
    emu.configure({ faults: [{ method: 'GET', path: '/jobs/ingest/[^/]+$', status: 503, errorCode: 'SERVER_UNAVAILABLE', message: 'Down for maintenance', times: 1 }] });
    const job = await bulk.createJob({ object: 'Account', operation: 'insert' });
    const before = emu.requests.length;
    const e = await rejected(bulk.getJob(job.id));
    expect(e.status).to.equal(503);
    expect(e.errorCode).to.equal('SERVER_UNAVAILABLE');
    expect(e.transient).to.equal(true);
    expect(emu.requests.length - before).to.equal(1);
    // The fault fired once; the next call works.
    expect((await bulk.getJob(job.id)).state).to.equal('Open');

    emu.configure({ faults: [{ method: 'POST', path: '/jobs/ingest$', status: 500, errorCode: 'UNKNOWN_EXCEPTION', times: 1 }] });
    const e500 = await rejected(bulk.createJob({ object: 'Account', operation: 'insert' }));
    expect(e500.status).to.equal(500);
    expect(e500.transient).to.equal(true);

    emu.configure({ faults: [{ method: 'GET', path: '/limits$', status: 429, errorCode: 'TOO_MANY_REQUESTS', times: 1 }] });
    const e429 = await rejected(getLimits(conn));
    expect(e429.status).to.equal(429);
    expect(e429.transient).to.equal(true);
  });

  it('a dropped connection → transient network error', async () => {
    emu.configure({ faults: [{ method: 'GET', path: '/jobs/ingest$', drop: true, times: 1 }] });
    const e = await rejected(bulk.listJobs());
    expect(e.transient).to.equal(true);
    expect(e.status).to.equal(undefined);
  });

  it('REQUEST_LIMIT_EXCEEDED is a quota, not transient', async () => {
    emu.configure({ faults: [{ method: 'GET', path: '/jobs/ingest$', status: 403, errorCode: 'REQUEST_LIMIT_EXCEEDED', message: 'TotalRequests Limit exceeded.', times: 1 }] });
    const e = await rejected(bulk.listJobs());
    expect(e.errorCode).to.equal('REQUEST_LIMIT_EXCEEDED');
    expect(e.quota).to.equal(true);
    expect(e.transient).to.equal(false);
  });

  it('describe and limits', async () => {
    const d = await describeSObject(conn, 'Contact');
    expect(d?.name).to.equal('Contact');
    const key = d!.fields.find((f) => f.name === 'DC_Key__c')!;
    expect(key).to.deep.include({ type: 'string', externalId: true, idLookup: true });
    const acc = d!.fields.find((f) => f.name === 'AccountId')!;
    expect(acc).to.deep.include({ referenceTo: ['Account'], relationshipName: 'Account' });
    expect(await describeSObject(conn, 'Nope__c')).to.equal(undefined);
    const limits = await getLimits(conn);
    expect(limits.DailyApiRequests.Max).to.be.a('number');
    expect(limits.DailyBulkApiBatches.Remaining).to.be.a('number');
  });

  it('expired session → INVALID_SESSION_ID, not transient, no token in the message', async () => {
    emu.configure({ auth: { sessionExpiresAfter: 0 } });
    try {
      const e = await rejected(bulk.listJobs());
      expect(e.status).to.equal(401);
      expect(e.errorCode).to.equal('INVALID_SESSION_ID');
      expect(e.transient).to.equal(false);
      expect(e.message).not.to.contain(emu.token);
    } finally {
      emu.configure({ auth: { sessionExpiresAfter: Number.MAX_SAFE_INTEGER } });
    }
  });
});

describe('wire: toApiError', () => {
  it('normalises jsforce HttpApiError shapes', () => {
    const parsed = Object.assign(new Error('The requested resource does not exist'), { name: 'NOT_FOUND', errorCode: 'NOT_FOUND' });
    expect(toApiError(parsed)).to.deep.include({ errorCode: 'NOT_FOUND', transient: false });
    const raw = Object.assign(new Error('[{"message":"Down","errorCode":"SERVER_UNAVAILABLE"}]'), { name: 'ERROR_HTTP_503', errorCode: 'ERROR_HTTP_503' });
    expect(toApiError(raw)).to.deep.include({ errorCode: 'SERVER_UNAVAILABLE', status: 503, transient: true, message: 'Down' });
    const html = Object.assign(new Error('<html><body>Bad gateway</body></html>'), { errorCode: 'ERROR_HTTP_502' });
    expect(toApiError(html)).to.deep.include({ errorCode: 'ERROR_HTTP_502', status: 502, transient: true, message: 'HTTP 502: Bad gateway' });
  });

  it('normalises network errors and never leaks tokens', () => {
    const net = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) });
    expect(toApiError(net)).to.deep.include({ errorCode: 'ECONNREFUSED', transient: true });
    const leak = toApiError(new Error('failed with Authorization: Bearer 00D000000000001AAA!abc.def and token 00D000000000001AAA!xyz'));
    expect(leak.message).not.to.match(/abc\.def|!xyz/);
    expect(toApiError(Object.assign(new Error('ConcurrentPerOrgLongTxn Limit exceeded'), { errorCode: 'REQUEST_LIMIT_EXCEEDED' }))).to.deep.include({ transient: true, quota: false });
    expect(toApiError('boom').errorCode).to.equal('UNKNOWN_ERROR');
  });
});
