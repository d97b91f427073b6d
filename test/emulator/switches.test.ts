/*
 * The emulator's switches over real HTTP: HTTP faults (status, drop before/after, skip,
 * delayMs) on the endpoints the plugin calls, holds (bulk.hold, bulk.holdAfterJobs,
 * dataCloud.holdQueries), configure() with null, the config view, the bounded request log.
 */
import { expect } from 'chai';
import { startEmulator, type Emulator } from './server.js';
import { datasetConfig, generateDataset } from './dataset.js';
import { call, callJson, close, createJob, info, results, smallOrg, sql, submit, upload, V, waitDone } from './test-http.js';

const CSV = 'External_ID__c,Name,StageName\nk1,One,Prospecting\nk2,Two,Prospecting\n';

/** fetch() that reports a dropped connection instead of throwing. */
async function attempt(emu: Emulator, method: string, path: string, body?: unknown, type?: string): Promise<number | 'dropped'> {
  try {
    const res = await call(emu, method, path, body, type);
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 'dropped';
  }
}

describe('emulator: switches', function () {
  this.timeout(30_000);
  let emu: Emulator;
  const ds = generateDataset({ rows: 2_000, parents: 50, seed: 2 });

  beforeEach(async () => {
    emu = await startEmulator({ timeScale: 1000, sobjects: smallOrg(), dataCloud: datasetConfig(ds).dataCloud });
  });
  afterEach(async () => emu?.close());

  describe('HTTP faults', () => {
    it('drop "before" (and true): the socket closes and the request had no effect', async () => {
      emu.configure({ faults: [{ method: 'POST', path: '/jobs/ingest$', drop: 'before' }] });
      expect(await attempt(emu, 'POST', `${V}/jobs/ingest`, { object: 'Opportunity', operation: 'upsert', externalIdFieldName: 'External_ID__c' })).to.equal('dropped');
      expect(emu.bulk.inspectJobs()).to.have.length(0);
      emu.configure({ faults: [{ method: 'POST', path: '/jobs/ingest$', drop: true, times: 1 }] });
      expect(await attempt(emu, 'POST', `${V}/jobs/ingest`, { object: 'Opportunity', operation: 'upsert', externalIdFieldName: 'External_ID__c' })).to.equal('dropped');
      expect(emu.bulk.inspectJobs()).to.have.length(0);
      expect(emu.requests.at(-1)!.status).to.equal(-1);
    });

    it('drop "after": create, upload, close and results take effect, but the client gets no answer', async () => {
      emu.configure({ faults: [{ method: 'POST', path: '/jobs/ingest$', drop: 'after', times: 1 }] });
      expect(await attempt(emu, 'POST', `${V}/jobs/ingest`, { object: 'Opportunity', operation: 'upsert', externalIdFieldName: 'External_ID__c' })).to.equal('dropped');
      const [created] = emu.bulk.inspectJobs();
      expect(created).to.include({ state: 'Open', uploadedBytes: 0 });
      expect(emu.requests.at(-1)!.status).to.equal(-2);

      emu.configure({ faults: [{ method: 'PUT', path: '/batches$', drop: 'after', times: 1 }] });
      expect(await attempt(emu, 'PUT', `${V}/jobs/ingest/${created.id}/batches`, CSV, 'text/csv')).to.equal('dropped');
      expect(emu.bulk.inspectJob(created.id)!.uploadedBytes).to.equal(CSV.length);
      const again = await upload(emu, created.id, CSV);
      expect(again.status).to.equal(400);
      expect(((await again.json()) as Array<{ message: string }>)[0].message).to.contain('Found multiple contents');

      emu.configure({ faults: [{ method: 'PATCH', path: `/jobs/ingest/${created.id}$`, drop: 'after', times: 1 }] });
      expect(await attempt(emu, 'PATCH', `${V}/jobs/ingest/${created.id}`, { state: 'UploadComplete' })).to.equal('dropped');
      expect((await waitDone(emu, created.id)).state).to.equal('JobComplete');

      emu.configure({ faults: [{ method: 'GET', path: '/successfulResults$', drop: 'after', times: 1 }] });
      expect(await attempt(emu, 'GET', `${V}/jobs/ingest/${created.id}/successfulResults`)).to.equal('dropped');
      expect((await results(emu, created.id, 'successfulResults')).rows).to.have.length(2);
    });

    it('skip lets the first n matching requests through; times bounds the rest; status and errorCode are answered', async () => {
      emu.configure({ faults: [{ method: 'GET', path: '/limits$', status: 503, errorCode: 'SERVER_UNAVAILABLE', skip: 2, times: 2 }] });
      const seen: Array<number | 'dropped'> = [];
      for (let i = 0; i < 5; i++) seen.push(await attempt(emu, 'GET', `${V}/limits`));
      expect(seen).to.deep.equal([200, 200, 503, 503, 200]);
      emu.configure({ faults: [{ path: '/sobjects/Opportunity/describe$', status: 500, errorCode: 'UNKNOWN_EXCEPTION', message: 'boom' }] });
      const d = await callJson(emu, 'GET', `${V}/sobjects/Opportunity/describe`);
      expect(d).to.deep.equal({ status: 500, body: [{ message: 'boom', errorCode: 'UNKNOWN_EXCEPTION' }] });
    });

    it('delayMs alone delays the normal answer; with a status it delays the fault', async () => {
      emu.configure({ faults: [{ method: 'POST', path: '/ssot/query-sql$', delayMs: 300, times: 1 }] });
      let t0 = Date.now();
      const q = await sql(emu, 'SELECT COUNT(*) AS "n" FROM "ExtOpportunities__dlm"');
      expect(Date.now() - t0).to.be.at.least(290);
      expect(q.body.data).to.deep.equal([[2000]]);
      emu.configure({ faults: [{ method: 'GET', path: '/ssot/query-sql/', delayMs: 200, status: 429, errorCode: 'TOO_MANY_REQUESTS' }] });
      t0 = Date.now();
      expect(await attempt(emu, 'GET', `${V}/ssot/query-sql/${q.body.status.queryId}`)).to.equal(429);
      expect(Date.now() - t0).to.be.at.least(190);
    });

    it('faults match Data Cloud POST and GET, describe, /limits, create, upload, close and results by method and path', async () => {
      const id = (await createJob(emu)).id;
      const targets: Array<[string, string, unknown?, string?]> = [
        ['POST', `${V}/ssot/query-sql`, { sql: 'SELECT COUNT(*) FROM "ExtOpportunities__dlm"' }],
        ['GET', `${V}/ssot/query-sql/whatever_1`],
        ['POST', `${V}/ssot/queryv2`, { sql: 'SELECT COUNT(*) FROM "ExtOpportunities__dlm"' }],
        ['GET', `${V}/sobjects/Opportunity/describe`],
        ['GET', `${V}/limits`],
        ['POST', `${V}/jobs/ingest`, { object: 'Opportunity', operation: 'insert' }],
        ['PUT', `${V}/jobs/ingest/${id}/batches`, CSV, 'text/csv'],
        ['PATCH', `${V}/jobs/ingest/${id}`, { state: 'UploadComplete' }],
        ['GET', `${V}/jobs/ingest/${id}/failedResults`],
      ];
      for (const [method, path, body, type] of targets) {
        emu.configure({ faults: [{ method, path: `${path.replace(V, '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, status: 502, times: 1 }] });
        expect(await attempt(emu, method, path, body, type), `${method} ${path}`).to.equal(502);
      }
      expect(emu.bulk.inspectJob(id)!.uploadedBytes).to.equal(0); // the PUT was answered by the fault, not stored
    });
  });

  describe('holds', () => {
    it('bulk.hold keeps closed jobs in UploadComplete, never picked up, until released', async () => {
      emu.configure({ bulk: { hold: true } });
      const id = await submit(emu, CSV);
      await new Promise((r) => setTimeout(r, 300)); // 300 virtual seconds at ×1000
      expect((await info(emu, id)).state).to.equal('UploadComplete');
      expect(emu.bulk.inspectJob(id)).to.include({ held: true, firstPickupAt: null });
      emu.configure({ bulk: { hold: false } });
      expect((await waitDone(emu, id)).state).to.equal('JobComplete');
      expect(emu.bulk.inspectJob(id)!.held).to.equal(false);
    });

    it('bulk.holdAfterJobs: the first n closed jobs run, later ones hold until the switch is raised or null', async () => {
      emu.configure({ bulk: { holdAfterJobs: 2 } });
      const ids = [await submit(emu, CSV), await submit(emu, CSV.replace(/k/g, 'm')), await submit(emu, CSV.replace(/k/g, 'n')), await submit(emu, CSV.replace(/k/g, 'p'))];
      expect((await waitDone(emu, ids[0])).state).to.equal('JobComplete');
      expect((await waitDone(emu, ids[1])).state).to.equal('JobComplete');
      await new Promise((r) => setTimeout(r, 200));
      expect((await info(emu, ids[2])).state).to.equal('UploadComplete');
      emu.configure({ bulk: { holdAfterJobs: 3 } });
      expect((await waitDone(emu, ids[2])).state).to.equal('JobComplete');
      expect((await info(emu, ids[3])).state).to.equal('UploadComplete');
      emu.configure({ bulk: { holdAfterJobs: null } });
      expect((await waitDone(emu, ids[3])).state).to.equal('JobComplete');
    });

    it('a held job can be aborted or deleted; it never runs', async () => {
      emu.configure({ bulk: { hold: true } });
      const a = await submit(emu, CSV);
      const b = await submit(emu, CSV.replace(/k/g, 'm'));
      expect((await callJson(emu, 'PATCH', `${V}/jobs/ingest/${a}`, { state: 'Aborted' })).body.state).to.equal('Aborted');
      expect((await call(emu, 'DELETE', `${V}/jobs/ingest/${b}`)).status).to.equal(204);
      emu.configure({ bulk: { hold: false } });
      await emu.bulk.whenIdle();
      expect(emu.bulk.inspectJob(a)).to.include({ state: 'Aborted', succeeded: 0, unprocessed: 2 });
      expect(emu.target.summary('Opportunity').rows).to.equal(0);
      expect((await results(emu, a, 'unprocessedrecords')).rows.map((r) => r.External_ID__c)).to.have.members(['k1', 'k2']);
    });

    it('dataCloud.holdQueries keeps new queries Running (no rows, 400 on /rows) until released', async () => {
      emu.configure({ dataCloud: { holdQueries: true } });
      const post = await sql(emu, 'SELECT "ExternalId__c" FROM "ExtOpportunities__dlm" ORDER BY "ExternalId__c" LIMIT 10');
      expect(post.body.status.completionStatus).to.equal('Running');
      expect(post.body.data).to.deep.equal([]);
      const id = post.body.status.queryId as string;
      for (let i = 0; i < 5; i++) expect((await callJson(emu, 'GET', `${V}/ssot/query-sql/${id}?waitTimeMs=10`)).body.completionStatus).to.equal('Running');
      expect((await callJson(emu, 'GET', `${V}/ssot/query-sql/${id}/rows`)).status).to.equal(400);
      emu.configure({ dataCloud: { holdQueries: false } });
      const st = await callJson(emu, 'GET', `${V}/ssot/query-sql/${id}`);
      expect(st.body).to.include({ completionStatus: 'ResultsProduced', rowCount: 10 });
      expect((await callJson(emu, 'GET', `${V}/ssot/query-sql/${id}/rows`)).body.returnedRows).to.equal(10);
    });

    it('held queries count as running for the 429 limit', async () => {
      emu.configure({ dataCloud: { holdQueries: true, maxConcurrentQueries: 2 } });
      await sql(emu, 'SELECT COUNT(*) FROM "ExtOpportunities__dlm"');
      await sql(emu, 'SELECT COUNT(*) FROM "ExtOpportunities__dlm"');
      expect((await sql(emu, 'SELECT COUNT(*) FROM "ExtOpportunities__dlm"')).status).to.equal(429);
      emu.configure({ dataCloud: { holdQueries: false } });
      expect((await sql(emu, 'SELECT COUNT(*) FROM "ExtOpportunities__dlm"')).status).to.equal(200);
    });
  });

  describe('configuration', () => {
    it('null restores a default or removes an optional switch, in configure() and POST /__emulator/config', async () => {
      emu.configure({ auth: { sessionExpiresAfter: 0 } });
      expect((await call(emu, 'GET', `${V}/limits`)).status).to.equal(401);
      emu.configure({ auth: { sessionExpiresAfter: null } });
      expect('sessionExpiresAfter' in emu.config.auth).to.equal(false);
      expect((await call(emu, 'GET', `${V}/limits`)).status).to.equal(200);
      emu.configure({ bulk: { maxUploadBytes: 10, listPageSize: 5 } });
      const post = await fetch(`${emu.url}/__emulator/config`, { method: 'POST', body: JSON.stringify({ bulk: { maxUploadBytes: null, holdAfterJobs: null }, faults: null }) });
      expect(post.status).to.equal(200);
      expect(emu.config.bulk).to.include({ maxUploadBytes: 100 * 1024 * 1024, listPageSize: 5 });
      expect(emu.config.faults).to.deep.equal([]);
    });

    it('GET /__emulator/config shows tables as schema and row count, never their rows', async () => {
      const cfg = (await (await fetch(`${emu.url}/__emulator/config`)).json()) as { dataCloud: { tables: Record<string, Record<string, unknown>> } };
      const t = cfg.dataCloud.tables.ExtOpportunities__dlm;
      expect(t).to.include({ name: 'ExtOpportunities__dlm', rowCount: 2000 });
      expect(t).to.not.have.property('rows');
      expect((t.columns as unknown[]).length).to.equal(7);
    });

    it('keeps at most requestLogLimit requests, dropping the oldest half', async () => {
      emu.configure({ requestLogLimit: 10 });
      for (let i = 0; i < 25; i++) await attempt(emu, 'GET', `${V}/limits`);
      expect(emu.requests.length).to.be.at.most(10);
      expect(emu.requestsDropped + emu.requests.length).to.equal(25);
      expect(emu.requests.at(-1)!.seq).to.equal(25);
      const log = (await (await fetch(`${emu.url}/__emulator/requests`)).json()) as { total: number; dropped: number };
      expect(log.total).to.equal(26); // this inspection request is logged too
    });

    it('an upload over maxUploadBytes is refused (400 InvalidBatch) and the job stays Open without data', async () => {
      emu.configure({ bulk: { maxUploadBytes: 20 } });
      const job = await createJob(emu);
      const put = await upload(emu, job.id, CSV);
      expect(put.status).to.equal(400);
      const [err] = (await put.json()) as Array<{ errorCode: string; message: string }>;
      expect(err.errorCode).to.equal('INVALIDBATCH');
      expect(err.message).to.contain('maximum size of 20 bytes');
      expect((await info(emu, job.id)).state).to.equal('Open');
      expect(emu.bulk.inspectJob(job.id)!.uploadedBytes).to.equal(0);
      expect((await close(emu, job.id)).status).to.equal(200);
      expect((await waitDone(emu, job.id)).errorMessage).to.match(/^ClientInputError : No data/);
    });
  });
});
