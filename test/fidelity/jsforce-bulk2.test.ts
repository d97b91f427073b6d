/*
 * Fidelity: jsforce's own Bulk API 2.0 client (`conn.bulk2`, @jsforce/jsforce-node, reached
 * through a real @salesforce/core Connection) against the emulator. Nobody here wrote that
 * client: it is what `sf data upsert bulk` runs on real orgs. If the emulator's Bulk 2.0
 * protocol drifts from Salesforce's (salesforce-api.md §2-§4), these assertions fail even
 * when our own wire layer (written against the same emulator) would not notice.
 *
 * Each assertion is tagged [catches: ...] with the protocol break it exists to catch.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Connection } from '@salesforce/core';
import type { ConfigPatch, RowRule, SObjectDef } from '../emulator/config.js';
import { startEmulator, type Emulator } from '../emulator/server.js';

const API = '64.0';
const POLL_MS = 100;
const POLL_TIMEOUT_MS = 60_000;

const SOBJECTS: Record<string, SObjectDef> = {
  Account: {
    name: 'Account',
    fields: [
      { name: 'Id', type: 'id', idLookup: true, createable: false, updateable: false },
      { name: 'Name', type: 'string', nillable: false },
      { name: 'External_ID__c', type: 'string', externalId: true, idLookup: true, unique: true },
    ],
  },
  Opportunity: {
    name: 'Opportunity',
    fields: [
      { name: 'Id', type: 'id', idLookup: true, createable: false, updateable: false },
      { name: 'External_ID__c', type: 'string', externalId: true, idLookup: true, unique: true },
      { name: 'Name', type: 'string', nillable: false },
      { name: 'StageName', type: 'picklist', nillable: false },
      { name: 'CloseDate', type: 'date', nillable: false },
      { name: 'Amount', type: 'currency' },
      { name: 'AccountId', type: 'reference', referenceTo: ['Account'], relationshipName: 'Account' },
    ],
  },
};

const ROW_RULES: RowRule[] = [
  // No fields: sf__Error must end in ":--".
  { name: 'amount-positive', object: 'Opportunity', code: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: 'Amount must be positive', match: { field: 'Amount', regex: '^-' } },
  // One field: sf__Error must end in ":StageName --" (the form jsforce's own live test asserts).
  {
    name: 'stage-required',
    object: 'Opportunity',
    code: 'REQUIRED_FIELD_MISSING',
    message: 'Required fields are missing: [StageName]',
    fields: ['StageName'],
    match: { field: 'StageName', regex: '^$' },
  },
];

const ACCOUNTS_CSV = ['External_ID__c,Name', 'ACC-1,Acme', 'ACC-2,Globex', 'ACC-3,Initech', ''].join('\n');

const OPP_HEADER = 'External_ID__c,Name,StageName,CloseDate,Amount,Account.External_ID__c';
// Values with ';' and '|' are split by jsforce's parser (it treats any of ` ^ , | ; TAB as a
// delimiter) unless the emulator quotes every result value, as Salesforce does.
const OPP_ROWS: Record<string, string> = {
  'OPP-001': 'OPP-001,"Acme; Widgets | Renewal",Prospecting,2026-01-31,1000,ACC-1',
  'OPP-002': 'OPP-002,"Big ""Deal"", Inc",Closed Won,2026-02-28,250000.5,ACC-1',
  'OPP-003': 'OPP-003,Negative,Prospecting,2026-03-31,-5,ACC-2',
  'OPP-004': 'OPP-004,No stage,,2026-03-31,10,ACC-2',
  'OPP-005': 'OPP-005,Plain,Qualification,2026-04-30,42,ACC-3',
  'OPP-006': 'OPP-006,Empty amount,Qualification,2026-04-30,,ACC-3',
};
const OPP_NAMES: Record<string, string> = {
  'OPP-001': 'Acme; Widgets | Renewal',
  'OPP-002': 'Big "Deal", Inc',
  'OPP-005': 'Plain',
  'OPP-006': 'Empty amount',
};
const OPP_OK = ['OPP-001', 'OPP-002', 'OPP-005', 'OPP-006'];
const OPP_FAILED: Record<string, string> = {
  'OPP-003': 'FIELD_CUSTOM_VALIDATION_EXCEPTION:Amount must be positive:--',
  'OPP-004': 'REQUIRED_FIELD_MISSING:Required fields are missing: [StageName]:StageName --',
};
const OPP_CSV = [OPP_HEADER, ...Object.values(OPP_ROWS), ''].join('\n');

type Bulk2 = Connection['bulk2'];
type IngestJob = ReturnType<Bulk2['createJob']>;
type Row = Record<string, string>;

const ID_RE = /^[a-zA-Z0-9]{18}$/;
const SF_DATETIME_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/;
/** One CSV line in which every cell is a double-quoted string. */
const ALL_QUOTED_LINE_RE = /^"(?:[^"]|"")*"(?:,"(?:[^"]|"")*")*$/;

describe('fidelity: jsforce bulk2 client against the emulator', function () {
  this.timeout(120_000);
  let emu: Emulator;
  let conn: Connection;
  let home: string;
  const savedEnv: Record<string, string | undefined> = {};

  /** open → uploadData → close, the way plugin-data's createIngestJob does. */
  async function submit(object: string, csv: string, lineEnding: 'LF' | 'CRLF' = 'LF'): Promise<IngestJob> {
    const job = conn.bulk2.createJob({ object, operation: 'upsert', externalIdFieldName: 'External_ID__c', lineEnding });
    await job.open();
    await job.uploadData(csv);
    await job.close();
    return job;
  }

  function log(from: number, method: string, pathRe: RegExp): Array<{ path: string; status: number }> {
    return emu.requests.slice(from).filter((r) => r.method === method && pathRe.test(r.path));
  }

  async function rawGet(path: string): Promise<{ status: number; body: string }> {
    const res = await fetch(`${emu.url}${path}`, { headers: { Authorization: `Bearer ${emu.token}` } });
    return { status: res.status, body: await res.text() };
  }

  before(async () => {
    // @salesforce/core reads config and may write logs under HOME: keep it in a temp dir.
    home = mkdtempSync(join(tmpdir(), 'dcl-jsforce-home-'));
    for (const k of ['HOME', 'USERPROFILE', 'SF_DISABLE_LOG_FILE', 'SF_DISABLE_DNS_CHECK', 'SF_ORG_API_VERSION']) savedEnv[k] = process.env[k];
    process.env.HOME = home;
    process.env.USERPROFILE = home;
    process.env.SF_DISABLE_LOG_FILE = 'true';
    process.env.SF_DISABLE_DNS_CHECK = 'true';
    delete process.env.SF_ORG_API_VERSION;

    const patch: ConfigPatch = { timeScale: 50, sobjects: SOBJECTS, bulk: { rowRules: ROW_RULES } };
    emu = await startEmulator(patch);
    const { AuthInfo, Connection: CoreConnection } = await import('@salesforce/core');
    const authInfo = await AuthInfo.create({ accessTokenOptions: { accessToken: emu.token, instanceUrl: emu.url, loginUrl: emu.url } });
    conn = await CoreConnection.create({ authInfo, connectionOptions: { version: API } });
    expect(conn.getApiVersion()).to.equal(API);
  });

  after(async () => {
    await emu?.close();
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    if (home) rmSync(home, { recursive: true, force: true });
  });

  describe('a job that completes with successes and row failures', () => {
    let job: IngestJob;
    let from: number;
    let ok: Row[];
    let failed: Row[];
    let unprocessed: Row[] | string;

    before(async () => {
      // Parent Accounts first (a jsforce job as well), so relationship columns resolve.
      const acc = await submit('Account', ACCOUNTS_CSV);
      await acc.poll(POLL_MS, POLL_TIMEOUT_MS);
      expect(((await acc.getSuccessfulResults()) as unknown as Row[]).map((r) => r.External_ID__c).sort()).to.deep.equal(['ACC-1', 'ACC-2', 'ACC-3']);

      from = emu.requests.length;
      job = conn.bulk2.createJob({ object: 'Opportunity', operation: 'upsert', externalIdFieldName: 'External_ID__c', lineEnding: 'LF' });
      await job.open();
    });

    it('open(): JobInfo of an Open job with a 750 id and a relative contentUrl', () => {
      const info = job.getInfo();
      // [catches: wrong job id format; state name on create]
      expect(info.id).to.match(ID_RE).and.match(/^750/);
      expect(info.state).to.equal('Open');
      expect(info.object).to.equal('Opportunity');
      expect(info.operation).to.equal('upsert');
      expect(info.externalIdFieldName).to.equal('External_ID__c');
      // [catches: wrong contentUrl — leading slash, absolute URL, missing version or /batches]
      expect(info.contentUrl).to.equal(`services/data/v${API}/jobs/ingest/${info.id}/batches`);
      // [catches: apiVersion sent as a string; timestamp format]
      expect(info.apiVersion).to.be.a('number').and.equal(Number(API));
      expect(info.createdDate).to.match(SF_DATETIME_RE);
      expect(info.lineEnding).to.equal('LF');
      expect(info.columnDelimiter).to.equal('COMMA');
      expect(info.contentType).to.equal('CSV');
      expect(info.concurrencyMode).to.equal('Parallel');
    });

    it('uploadData() → close() → poll() reaches JobComplete', async () => {
      // jsforce streams the PUT (Transfer-Encoding: chunked) [catches: chunked uploads not accepted]
      await job.uploadData(OPP_CSV);
      await job.close();
      // [catches: close answering with a state other than UploadComplete/InProgress/JobComplete]
      expect(['UploadComplete', 'InProgress', 'JobComplete']).to.include(job.getInfo().state);
      // [catches: state names — poll() only stops on the exact string 'JobComplete'; anything
      //  else (e.g. 'Completed', 'JOB_COMPLETE') loops until JobPollingTimeout]
      await job.poll(POLL_MS, POLL_TIMEOUT_MS);
      expect(job.getInfo().state).to.equal('JobComplete');
    });

    it('answers every call with the status code Salesforce uses', () => {
      const id = job.id;
      // [catches: 201 vs 200 on PUT .../batches (jsforce accepts both; our wire layer and the docs say 201)]
      expect(log(from, 'PUT', new RegExp(`/jobs/ingest/${id}/batches$`)).map((r) => r.status)).to.deep.equal([201]);
      // [catches: create answering 201 instead of 200]
      expect(log(from, 'POST', /\/jobs\/ingest$/).map((r) => r.status)).to.deep.equal([200]);
      expect(log(from, 'PATCH', new RegExp(`/jobs/ingest/${id}$`)).map((r) => r.status)).to.deep.equal([200]);
      const gets = log(from, 'GET', new RegExp(`/jobs/ingest/${id}$`));
      expect(gets.length).to.be.greaterThan(0);
      expect(gets.every((r) => r.status === 200)).to.equal(true);
    });

    it('getSuccessfulResults() / getFailedResults() / getUnprocessedRecords()', async () => {
      from = emu.requests.length;
      ok = (await job.getSuccessfulResults()) as unknown as Row[];
      failed = (await job.getFailedResults()) as unknown as Row[];
      unprocessed = (await job.getUnprocessedRecords()) as unknown as Row[] | string;

      // [catches: result routes without a trailing slash not served (jsforce calls
      //  /successfulResults, /failedResults, /unprocessedrecords — all-lowercase — with no '/')]
      for (const seg of ['successfulResults', 'failedResults', 'unprocessedrecords']) {
        expect(log(from, 'GET', new RegExp(`/jobs/ingest/${job.id}/${seg}$`)).map((r) => r.status), seg).to.deep.equal([200]);
      }

      // [catches: sf__ columns missing/misnamed; sf__Created not the strings 'true'/'false';
      //  rows lost, duplicated, or results not correlated by key; values mangled by CSV escaping]
      expect(ok.map((r) => r.External_ID__c).sort()).to.deep.equal(OPP_OK);
      for (const r of ok) {
        expect(r.sf__Id, JSON.stringify(r)).to.match(ID_RE).and.match(/^006/);
        expect(r.sf__Created, JSON.stringify(r)).to.equal('true');
        // [catches: unquoted result values — jsforce splits "Acme; Widgets | Renewal" on ';' and '|']
        expect(r.Name).to.equal(OPP_NAMES[r.External_ID__c]);
        expect(Object.keys(r)).to.include.members(['sf__Id', 'sf__Created', ...OPP_HEADER.split(',')]);
      }
      expect(new Set(ok.map((r) => r.sf__Id)).size).to.equal(ok.length);

      // [catches: sf__Error shape — must be CODE:message:fields -- / CODE:message:--]
      expect(failed.map((r) => r.External_ID__c).sort()).to.deep.equal(Object.keys(OPP_FAILED).sort());
      for (const r of failed) {
        expect(r.sf__Error, JSON.stringify(r)).to.equal(OPP_FAILED[r.External_ID__c]);
        // failed upsert-inserts carry an empty sf__Id
        expect(r.sf__Id, JSON.stringify(r)).to.equal('');
        expect(Object.keys(r)).to.include.members(['sf__Id', 'sf__Error', ...OPP_HEADER.split(',')]);
      }

      // A completed job has no unprocessed rows.
      expect(Array.isArray(unprocessed) ? unprocessed : []).to.deep.equal([]);
    });

    it('result CSVs are written the way Salesforce writes them (raw)', async () => {
      const rawOk = (await job.getSuccessfulResults(true)) as unknown as string;
      const rawFailed = (await job.getFailedResults(true)) as unknown as string;
      const rawUnprocessed = (await job.getUnprocessedRecords(true)) as unknown as string;
      const okLines = rawOk.split('\n').filter((l) => l !== '');
      const failedLines = rawFailed.split('\n').filter((l) => l !== '');
      // [catches: sf__ header cells unquoted, original header re-quoted or reordered]
      expect(okLines[0]).to.equal(`"sf__Id","sf__Created",${OPP_HEADER}`);
      expect(failedLines[0]).to.equal(`"sf__Id","sf__Error",${OPP_HEADER}`);
      // [catches: unquoted result values; CRLF or the job's delimiter leaking into results]
      for (const l of [...okLines.slice(1), ...failedLines.slice(1)]) expect(l).to.match(ALL_QUOTED_LINE_RE);
      expect(rawOk).to.not.include('\r');
      expect(okLines.length - 1).to.equal(OPP_OK.length);
      expect(failedLines.length - 1).to.equal(Object.keys(OPP_FAILED).length);
      // Unprocessed: header only (or empty) for a completed job.
      expect(rawUnprocessed.split('\n').filter((l) => l !== '').length).to.be.at.most(1);

      // [catches: result routes WITH the documented trailing slash not served]
      for (const [seg, raw] of [
        ['successfulResults', rawOk],
        ['failedResults', rawFailed],
      ] as const) {
        const r = await rawGet(`/services/data/v${API}/jobs/ingest/${job.id}/${seg}/`);
        expect(r.status, seg).to.equal(200);
        expect(r.body.split('\n').filter((l) => l).sort(), seg).to.deep.equal(raw.split('\n').filter((l) => l).sort());
      }
    });

    it('the target store holds exactly the successful rows, with the ids the results report', () => {
      // [catches: failed rows written anyway; successes not written; sf__Id not the stored id]
      const table = emu.target.table('Opportunity');
      expect([...table.keys()].sort()).to.deep.equal(OPP_OK);
      for (const r of ok) {
        const rec = table.get(r.External_ID__c)!;
        expect(rec.id).to.equal(r.sf__Id);
        expect(rec.writes).to.equal(1);
        expect(rec.fields.Name).to.equal(OPP_NAMES[r.External_ID__c]);
      }
      expect(emu.target.summary('Opportunity')).to.include({ rows: OPP_OK.length, writes: OPP_OK.length, rewritten: 0 });
    });

    it("bulk2.job('ingest', {id}).check() on the existing job returns its final JobInfo", async () => {
      const again = conn.bulk2.job('ingest', { id: job.id });
      const info = await again.check();
      expect(info.id).to.equal(job.id);
      expect(info.state).to.equal('JobComplete');
      // [catches: counters — numberRecordsProcessed includes failed rows (plugin-data computes
      //  successful = processed − failed)]
      expect(info.numberRecordsProcessed).to.equal(Object.keys(OPP_ROWS).length);
      expect(info.numberRecordsFailed).to.equal(Object.keys(OPP_FAILED).length);
      // [catches: jobType/apiVersion/timing fields missing from GET job info]
      expect(info.jobType).to.equal('V2Ingest');
      expect(info.apiVersion).to.be.a('number');
      expect(info.retries).to.be.a('number');
      expect(info.totalProcessingTime).to.be.a('number');
      expect(info.apiActiveProcessingTime).to.be.a('number');
      expect(info.apexProcessingTime).to.be.a('number');
      expect(info.systemModstamp).to.match(SF_DATETIME_RE);
      expect(info.errorMessage ?? '').to.equal('');
    });

    it('a second upsert of an existing key reports sf__Created=false and keeps the record id', async () => {
      const first = ok.find((r) => r.External_ID__c === 'OPP-001')!;
      const csv = [OPP_HEADER, 'OPP-001,"Acme; Widgets | Renewal",Closed Won,2026-01-31,1200,ACC-1', 'OPP-007,New one,Prospecting,2026-05-31,7,ACC-3', ''].join('\n');
      const j = await submit('Opportunity', csv);
      await j.poll(POLL_MS, POLL_TIMEOUT_MS);
      const res = (await j.getSuccessfulResults()) as unknown as Row[];
      const byKey = Object.fromEntries(res.map((r) => [r.External_ID__c, r]));
      // [catches: sf__Created wrong for upsert-updates; a new id minted for an existing key]
      expect(byKey['OPP-001']).to.include({ sf__Created: 'false', sf__Id: first.sf__Id });
      expect(byKey['OPP-007'].sf__Created).to.equal('true');
      expect(await j.getFailedResults()).to.deep.equal([]);
      const rec = emu.target.get('Opportunity', 'OPP-001')!;
      expect(rec.writes).to.equal(2);
      expect(rec.fields.StageName).to.equal('Closed Won');
    });

    it('delete() removes a finished job (204); afterwards check() is 404 NOT_FOUND', async () => {
      from = emu.requests.length;
      await job.delete();
      // [catches: DELETE answering 200 with a body, or refusing a JobComplete job]
      expect(log(from, 'DELETE', new RegExp(`/jobs/ingest/${job.id}$`)).map((r) => r.status)).to.deep.equal([204]);
      const err = await conn.bulk2
        .job('ingest', { id: job.id })
        .check()
        .then(
          () => undefined,
          (e: Error) => e
        );
      expect(err, 'check() after delete must reject').to.be.instanceOf(Error);
      expect(err!.name).to.equal('NOT_FOUND');
    });
  });

  describe('jobs that fail, abort, or do not exist', () => {
    it('a job whose data has the wrong line ending goes Failed; poll() rejects with jsforce\'s message', async () => {
      const crlf = [OPP_HEADER, 'OPP-100,CRLF row,Prospecting,2026-01-31,1,ACC-1', ''].join('\r\n');
      const job = await submit('Opportunity', crlf, 'LF');
      // [catches: Failed state name; errorMessage missing or not "CamelCaseCode : text"]
      const err = await job.poll(POLL_MS, POLL_TIMEOUT_MS).then(
        () => undefined,
        (e: Error) => e
      );
      expect(err, 'poll() must reject').to.be.instanceOf(Error);
      expect(err!.message).to.equal(
        'Ingest job failed to complete due to: ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is LF'
      );
      const info = await conn.bulk2.job('ingest', { id: job.id }).check();
      expect(info.state).to.equal('Failed');
      expect(info.numberRecordsProcessed).to.equal(0);
      expect(emu.target.get('Opportunity', 'OPP-100')).to.equal(undefined);
    });

    it('a job with an unknown field goes Failed with "InvalidBatch : Field name not found : X"', async () => {
      const csv = ['External_ID__c,Name,Bogus__c', 'OPP-200,Unknown field,x', ''].join('\n');
      const job = await submit('Opportunity', csv);
      const err = await job.poll(POLL_MS, POLL_TIMEOUT_MS).then(
        () => undefined,
        (e: Error) => e
      );
      expect(err, 'poll() must reject').to.be.instanceOf(Error);
      expect(err!.message).to.equal('Ingest job failed to complete due to: InvalidBatch : Field name not found : Bogus__c');
      expect(emu.target.get('Opportunity', 'OPP-200')).to.equal(undefined);
    });

    it('poll() on a job that was never closed rejects with "Job is still open"', async () => {
      const job = conn.bulk2.createJob({ object: 'Opportunity', operation: 'upsert', externalIdFieldName: 'External_ID__c', lineEnding: 'LF' });
      await job.open();
      // [catches: state name 'Open']
      const err = await job.poll(POLL_MS, 5_000).then(
        () => undefined,
        (e: Error) => e
      );
      expect(err?.message).to.match(/^Job is still open/);
      await job.abort();
    });

    it('abort() → Aborted; poll() rejects with "Job has been aborted"', async () => {
      const job = conn.bulk2.createJob({ object: 'Opportunity', operation: 'upsert', externalIdFieldName: 'External_ID__c', lineEnding: 'LF' });
      await job.open();
      await job.uploadData([OPP_HEADER, 'OPP-300,Aborted,Prospecting,2026-01-31,1,ACC-1', ''].join('\n'));
      await job.abort();
      // [catches: abort not answering JobInfo with state 'Aborted']
      expect(job.getInfo().state).to.equal('Aborted');
      const err = await job.poll(POLL_MS, 5_000).then(
        () => undefined,
        (e: Error) => e
      );
      expect(err?.message).to.equal('Job has been aborted');
      expect(emu.target.get('Opportunity', 'OPP-300')).to.equal(undefined);
    });

    it('a second PUT on the same job is rejected (exactly one upload per job)', async () => {
      const job = conn.bulk2.createJob({ object: 'Opportunity', operation: 'upsert', externalIdFieldName: 'External_ID__c', lineEnding: 'LF' });
      await job.open();
      await job.uploadData([OPP_HEADER, 'OPP-400,First upload,Prospecting,2026-01-31,1,ACC-1', ''].join('\n'));
      // A fresh handle bypasses jsforce's client-side "only once" guard, so the server must refuse.
      const err = await conn.bulk2
        .job('ingest', { id: job.id })
        .uploadData([OPP_HEADER, 'OPP-401,Second upload,Prospecting,2026-01-31,1,ACC-1', ''].join('\n'))
        .then(
          () => undefined,
          (e: Error) => e
        );
      // [catches: multi-batch append accepted]
      expect(err, 'second PUT must be rejected').to.be.instanceOf(Error);
      await job.abort();
    });

    it("bulk2.job('ingest', {id}).check() on an unknown id rejects NOT_FOUND / 'The requested resource does not exist'", async () => {
      const err = await conn.bulk2
        .job('ingest', { id: '750000000000000AAA' })
        .check()
        .then(
          () => undefined,
          (e: Error) => e
        );
      // [catches: 404 body not the REST error array (jsforce then reports ERROR_HTTP_404 and
      //  plugin-data's "invalid job id" message match fails)]
      expect(err).to.be.instanceOf(Error);
      expect(err!.name).to.equal('NOT_FOUND');
      expect(err!.message).to.equal('The requested resource does not exist');
    });

    it('a bad session token rejects with INVALID_SESSION_ID', async () => {
      const { Connection: JsforceConnection } = await import('@jsforce/jsforce-node');
      const bad = new JsforceConnection({ instanceUrl: emu.url, accessToken: '00D000000000001AAA!expired', version: API });
      const err = await bad.bulk2
        .createJob({ object: 'Opportunity', operation: 'upsert', externalIdFieldName: 'External_ID__c', lineEnding: 'LF' })
        .open()
        .then(
          () => undefined,
          (e: Error) => e
        );
      // [catches: 401 body not [{"errorCode":"INVALID_SESSION_ID",...}]]
      expect(err).to.be.instanceOf(Error);
      expect(err!.name).to.equal('INVALID_SESSION_ID');
    });
  });
});
