/*
 * Bulk API 2.0 administration over real HTTP: GET /jobs/ingest (shape of salesforce-api.md
 * §2.5, paging by nextRecordsUrl, jobType, deleted jobs left out, jobs of other users),
 * DELETE of jobs (§2.6) and of query-sql queries with the inspection list of what was
 * deleted, DailyBulkApiBatches running out mid-job (ExceededQuota), DailyApiRequests (403),
 * and query-sql expiry on the wall clock at fast time scales.
 */
import { expect } from 'chai';
import { startEmulator, type Emulator } from './server.js';
import { datasetConfig, generateDataset } from './dataset.js';
import { call, callJson, createJob, info, results, smallOrg, sql, submit, V, waitDone } from './test-http.js';

const LIST_KEYS = ['apiVersion', 'columnDelimiter', 'concurrencyMode', 'contentType', 'createdById', 'createdDate', 'id', 'jobType', 'lineEnding', 'object', 'operation', 'state', 'systemModstamp'];

function rowsCsv(n: number, prefix = 'k'): string {
  const lines = ['External_ID__c,Name,StageName'];
  for (let i = 0; i < n; i++) lines.push(`${prefix}${i},Name ${i},Prospecting`);
  return lines.join('\n') + '\n';
}

type ListPage = { done: boolean; records: Array<Record<string, unknown>>; nextRecordsUrl: string | null };

describe('emulator: Bulk job listing, deletes and quotas', function () {
  this.timeout(30_000);
  let emu: Emulator;
  beforeEach(async () => {
    emu = await startEmulator({ timeScale: 1000, sobjects: smallOrg() });
  });
  afterEach(async () => emu?.close());

  it('lists jobs with the documented fields, pages by nextRecordsUrl and leaves deleted jobs out', async () => {
    emu.configure({ bulk: { listPageSize: 3 } });
    const open = await createJob(emu);
    const done = await submit(emu, rowsCsv(3));
    await waitDone(emu, done);
    const other = (await (
      await fetch(`${emu.url}/__emulator/jobs/ingest`, { method: 'POST', body: JSON.stringify({ object: 'Account', operation: 'insert', createdById: '005000000000002AAA', apiVersion: '62.0' }) })
    ).json()) as { id: string };
    const extra = [await createJob(emu, { object: 'Account', operation: 'insert', lineEnding: 'CRLF', columnDelimiter: 'PIPE' }), await createJob(emu), await createJob(emu)];
    const gone = await submit(emu, rowsCsv(2, 'g'));
    await waitDone(emu, gone);
    expect((await call(emu, 'DELETE', `${V}/jobs/ingest/${gone}`)).status).to.equal(204);

    const first = await callJson<ListPage>(emu, 'GET', `${V}/jobs/ingest`);
    expect(first.status).to.equal(200);
    expect(first.body.done).to.equal(false);
    expect(first.body.records).to.have.length(3);
    expect(first.body.nextRecordsUrl).to.match(/^\/services\/data\/v64\.0\/jobs\/ingest\?queryLocator=\S+$/);
    const seen = [...first.body.records];
    let page = first.body;
    while (!page.done) {
      const next = await callJson<ListPage>(emu, 'GET', page.nextRecordsUrl!);
      expect(next.status).to.equal(200);
      page = next.body;
      seen.push(...page.records);
    }
    expect(page.nextRecordsUrl).to.equal(null);
    expect(seen.map((r) => r.id)).to.deep.equal([open.id, done, other.id, ...extra.map((j) => j.id)]);
    for (const r of seen) expect(Object.keys(r).sort()).to.deep.equal(LIST_KEYS);
    const byId = new Map(seen.map((r) => [r.id, r]));
    expect(byId.get(open.id)).to.deep.include({ state: 'Open', operation: 'upsert', object: 'Opportunity', createdById: emu.config.auth.userId, jobType: 'V2Ingest', apiVersion: 64, concurrencyMode: 'Parallel', contentType: 'CSV', lineEnding: 'LF', columnDelimiter: 'COMMA' });
    expect(byId.get(open.id)!.createdDate).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$/);
    expect(byId.get(done)).to.include({ state: 'JobComplete' });
    expect(byId.get(other.id)).to.include({ createdById: '005000000000002AAA', apiVersion: 62, object: 'Account', operation: 'insert' });
    expect(byId.get(extra[0].id)).to.include({ lineEnding: 'CRLF', columnDelimiter: 'PIPE' });

    expect((await callJson<ListPage>(emu, 'GET', `${V}/jobs/ingest?jobType=V2Ingest`)).body.records).to.have.length(3);
    expect((await callJson<ListPage>(emu, 'GET', `${V}/jobs/ingest?jobType=Classic`)).body).to.deep.equal({ done: true, records: [], nextRecordsUrl: null });
    expect((await callJson(emu, 'GET', `${V}/jobs/ingest?jobType=Nope`)).status).to.equal(400);
    expect((await callJson(emu, 'GET', `${V}/jobs/ingest?queryLocator=bogus`)).status).to.equal(400);
    emu.configure({ bulk: { listPageSize: null } });
    expect((await callJson<ListPage>(emu, 'GET', `${V}/jobs/ingest`)).body).to.include({ done: true, nextRecordsUrl: null });
  });

  it('deletes only UploadComplete, JobComplete, Aborted and Failed jobs; GET /__emulator/deleted lists them', async () => {
    const open = await createJob(emu);
    expect((await call(emu, 'DELETE', `${V}/jobs/ingest/${open.id}`)).status).to.equal(400);
    emu.configure({ bulk: { lock: { h0: 100_000, h1: 0, h2: 0, sigma: 0 } } });
    const running = await submit(emu, rowsCsv(3, 'r'));
    await new Promise((r) => setTimeout(r, 20));
    expect((await info(emu, running)).state).to.equal('InProgress');
    const del = await callJson(emu, 'DELETE', `${V}/jobs/ingest/${running}`);
    expect(del.status).to.equal(400);
    expect(del.body[0].errorCode).to.equal('INVALIDJOBSTATE');
    expect((await callJson(emu, 'PATCH', `${V}/jobs/ingest/${running}`, { state: 'Aborted' })).body.state).to.equal('Aborted');
    expect((await call(emu, 'DELETE', `${V}/jobs/ingest/${running}`)).status).to.equal(204);
    expect((await call(emu, 'DELETE', `${V}/jobs/ingest/${running}`)).status).to.equal(404);
    emu.configure({ bulk: { hold: true } });
    const queued = await submit(emu, rowsCsv(1, 'q'));
    expect((await call(emu, 'DELETE', `${V}/jobs/ingest/${queued}`)).status).to.equal(204);
    const deleted = (await (await fetch(`${emu.url}/__emulator/deleted`)).json()) as { jobs: Array<Record<string, unknown>>; queries: unknown[] };
    expect(deleted.jobs.map((j) => [j.id, j.stateAtDeletion])).to.deep.equal([
      [running, 'Aborted'],
      [queued, 'UploadComplete'],
    ]);
    expect(deleted.jobs[0]).to.include({ object: 'Opportunity', operation: 'upsert', createdById: emu.config.auth.userId });
    expect(emu.bulk.inspectJob(queued)).to.include({ deleted: true, state: 'Aborted', succeeded: 0 });
  });

  it('DELETE of a query-sql query answers 204 and is listed; an unknown id is 404 unless deleteUnknownQuery is 204', async () => {
    emu.configure({ dataCloud: { tables: datasetConfig(generateDataset({ rows: 100, parents: 5, seed: 1 })).dataCloud!.tables } });
    const q = await sql(emu, 'SELECT "ExternalId__c" FROM "ExtOpportunities__dlm"');
    const id = q.body.status.queryId as string;
    expect((await call(emu, 'DELETE', `${V}/ssot/query-sql/${id}`)).status).to.equal(204);
    expect((await call(emu, 'GET', `${V}/ssot/query-sql/${id}`)).status).to.equal(404);
    expect((await call(emu, 'DELETE', `${V}/ssot/query-sql/${id}`)).status).to.equal(404);
    emu.configure({ dataCloud: { deleteUnknownQuery: 204 } });
    expect((await call(emu, 'DELETE', `${V}/ssot/query-sql/${id}`)).status).to.equal(204);
    const deleted = (await (await fetch(`${emu.url}/__emulator/deleted`)).json()) as { queries: Array<{ queryId: string; sql: string }> };
    expect(deleted.queries.map((d) => d.queryId)).to.deep.equal([id]);
    expect(deleted.queries[0].sql).to.contain('ExtOpportunities__dlm');
  });

  it('DailyBulkApiBatches running out mid-job: the covered batches run, the job ends Failed (ExceededQuota), the rest is unprocessed', async () => {
    emu.configure({ bulk: { lock: { batchSize: 100 } } });
    emu.limits.set('DailyBulkApiBatches', 2);
    const id = await submit(emu, rowsCsv(250));
    const j = await waitDone(emu, id);
    expect(j.state).to.equal('Failed');
    expect(j.errorMessage).to.match(/^ExceededQuota : /);
    expect(j.numberRecordsProcessed).to.equal(200);
    expect(emu.limits.remaining('DailyBulkApiBatches')).to.equal(0);
    const ok = await results(emu, id, 'successfulResults');
    const un = await results(emu, id, 'unprocessedrecords');
    expect(ok.rows).to.have.length(200);
    expect(un.rows).to.have.length(50);
    expect(new Set([...ok.rows, ...un.rows].map((r) => r.External_ID__c)).size).to.equal(250);
    expect(emu.bulk.inspectJob(id)).to.include({ state: 'Failed', succeeded: 200, unprocessed: 50 });
    // Nothing left: the next job fails at pickup with every row unprocessed.
    const next = await waitDone(emu, await submit(emu, rowsCsv(5, 'n')));
    expect(next).to.include({ state: 'Failed', numberRecordsProcessed: 0 });
    expect(next.errorMessage).to.match(/^ExceededQuota : /);
    expect((await results(emu, next.id, 'unprocessedrecords')).rows).to.have.length(5);
  });

  it('DailyApiRequests exhausted: every REST call answers 403 REQUEST_LIMIT_EXCEEDED, inspection still works', async () => {
    const job = await createJob(emu);
    emu.limits.set('DailyApiRequests', 0);
    for (const [method, path] of [
      ['GET', `${V}/limits`],
      ['GET', `${V}/sobjects/Opportunity/describe`],
      ['POST', `${V}/ssot/query-sql`],
      ['PUT', `${V}/jobs/ingest/${job.id}/batches`],
      ['GET', `${V}/jobs/ingest`],
    ]) {
      const r = await callJson(emu, method, path, method === 'GET' ? undefined : '{}');
      expect(r, `${method} ${path}`).to.deep.equal({ status: 403, body: [{ message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }] });
    }
    expect((await fetch(`${emu.url}/__emulator/limits`)).status).to.equal(200);
    expect(emu.bulk.inspectJob(job.id)!.uploadedBytes).to.equal(0);
  });

  it('query-sql results expire on the wall clock (queryExpiryWallSeconds), not on the fast virtual clock', async () => {
    emu.configure({ timeScale: 100_000, dataCloud: { tables: datasetConfig(generateDataset({ rows: 100, parents: 5, seed: 1 })).dataCloud!.tables } });
    const q = await sql(emu, 'SELECT "ExternalId__c" FROM "ExtOpportunities__dlm"', { rowLimit: 10 });
    const id = q.body.status.queryId as string;
    await new Promise((r) => setTimeout(r, 1_000)); // 28 virtual hours
    expect((await callJson(emu, 'GET', `${V}/ssot/query-sql/${id}/rows?offset=10&rowLimit=10`)).body.returnedRows).to.equal(10);
    emu.configure({ dataCloud: { queryExpiryWallSeconds: 0.2 } });
    const short = (await sql(emu, 'SELECT "ExternalId__c" FROM "ExtOpportunities__dlm"')).body.status.queryId as string;
    expect((await call(emu, 'GET', `${V}/ssot/query-sql/${short}`)).status).to.equal(200);
    await new Promise((r) => setTimeout(r, 300));
    expect((await call(emu, 'GET', `${V}/ssot/query-sql/${short}`)).status).to.equal(404);
  });
});
