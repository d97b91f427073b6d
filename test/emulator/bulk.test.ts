/*
 * Bulk API 2.0 ingest of the emulator over real HTTP: the lock-model validation checklist
 * (lock-model.md §7.9 items 1–5) and the wire protocol's error cases (salesforce-api.md §2).
 * Scenarios that need simultaneous submissions freeze the virtual clock (timeScale 0),
 * submit, then let it run fast.
 */
import { expect } from 'chai';
import { parse } from 'csv-parse/sync';
import type { ConfigPatch, SObjectDef } from './config.js';
import { startEmulator, type Emulator } from './server.js';

const V = '/services/data/v62.0';

export const TEST_SOBJECTS: Record<string, SObjectDef> = {
  Account: {
    name: 'Account',
    fields: [
      { name: 'Id', type: 'id' },
      { name: 'Name', type: 'string' },
      { name: 'External_ID__c', type: 'string', externalId: true, unique: true },
    ],
  },
  Opportunity: {
    name: 'Opportunity',
    fields: [
      { name: 'Id', type: 'id' },
      { name: 'Name', type: 'string' },
      { name: 'StageName', type: 'picklist' },
      { name: 'CloseDate', type: 'date' },
      { name: 'Amount', type: 'currency' },
      { name: 'AccountId', type: 'reference', referenceTo: ['Account'], relationshipName: 'Account' },
      { name: 'External_ID__c', type: 'string', externalId: true, unique: true },
    ],
  },
};

type JobInfo = Record<string, unknown> & { id: string; state: string; numberRecordsProcessed: number; numberRecordsFailed: number; retries: number; errorMessage?: string };

const emulators: Emulator[] = [];

async function emulator(patch: ConfigPatch = {}): Promise<Emulator> {
  const emu = await startEmulator({ timeScale: 500, sobjects: TEST_SOBJECTS, ...patch });
  emulators.push(emu);
  return emu;
}

async function call(emu: Emulator, method: string, path: string, body?: unknown, contentType = 'application/json; charset=utf-8'): Promise<Response> {
  const init: RequestInit & { duplex?: string } = { method, headers: { Authorization: `Bearer ${emu.token}` } };
  if (body !== undefined) {
    (init.headers as Record<string, string>)['Content-Type'] = contentType;
    init.body = typeof body === 'string' || body instanceof ReadableStream ? (body as BodyInit) : JSON.stringify(body);
    if (body instanceof ReadableStream) init.duplex = 'half';
  }
  return fetch(emu.url + path, init);
}

async function json<T>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

type JobOpts = { operation?: string; externalIdFieldName?: string; lineEnding?: string; columnDelimiter?: string; object?: string };

async function createJob(emu: Emulator, opts: JobOpts = {}): Promise<JobInfo> {
  const res = await call(emu, 'POST', `${V}/jobs/ingest`, {
    object: opts.object ?? 'Opportunity',
    operation: opts.operation ?? 'upsert',
    ...(opts.operation === undefined || opts.operation === 'upsert' ? { externalIdFieldName: opts.externalIdFieldName ?? 'External_ID__c' } : {}),
    lineEnding: opts.lineEnding ?? 'LF',
    columnDelimiter: opts.columnDelimiter ?? 'COMMA',
  });
  expect(res.status, await res.clone().text()).to.equal(200);
  return json<JobInfo>(res);
}

/** Create, upload, close. Returns the job id. */
async function submit(emu: Emulator, csv: string, opts: JobOpts = {}): Promise<string> {
  const job = await createJob(emu, opts);
  const put = await call(emu, 'PUT', `${V}/jobs/ingest/${job.id}/batches`, csv, 'text/csv');
  expect(put.status).to.equal(201);
  const patch = await call(emu, 'PATCH', `${V}/jobs/ingest/${job.id}`, { state: 'UploadComplete' });
  expect(patch.status).to.equal(200);
  return job.id;
}

async function info(emu: Emulator, id: string): Promise<JobInfo> {
  const res = await call(emu, 'GET', `${V}/jobs/ingest/${id}`);
  expect(res.status).to.equal(200);
  return json<JobInfo>(res);
}

async function waitDone(emu: Emulator, id: string, timeoutMs = 10_000): Promise<JobInfo> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const j = await info(emu, id);
    if (j.state === 'JobComplete' || j.state === 'Failed' || j.state === 'Aborted') return j;
    if (Date.now() > until) throw new Error(`job ${id} still ${j.state}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function results(emu: Emulator, id: string, kind: string, slash = false, delimiter = ','): Promise<{ text: string; rows: Array<Record<string, string>> }> {
  const res = await call(emu, 'GET', `${V}/jobs/ingest/${id}/${kind}${slash ? '/' : ''}`);
  expect(res.status).to.equal(200);
  const text = await res.text();
  return { text, rows: parse(text, { columns: true, delimiter }) as Array<Record<string, string>> };
}

const HEADER = 'External_ID__c,Name,StageName,CloseDate,Amount,Account.External_ID__c';

/** n Opportunity rows; parentOf(i) names the Account external id of row i. */
function csvRows(n: number, parentOf: (i: number) => string, start = 0, prefix = 'opp'): string {
  const lines = [HEADER];
  for (let i = start; i < start + n; i++) lines.push(`${prefix}${String(i).padStart(7, '0')},Opp ${i},Prospecting,2026-03-01,${(i % 97) * 10},${parentOf(i)}`);
  return lines.join('\n') + '\n';
}

/** Run `fn` with the virtual clock frozen, so every submission lands at the same virtual instant. */
async function frozen<T>(emu: Emulator, fn: () => Promise<T>, thenScale = 500): Promise<T> {
  emu.configure({ timeScale: 0 });
  try {
    return await fn();
  } finally {
    emu.configure({ timeScale: thenScale });
  }
}

const fixedHold = (h0: number, extra: Record<string, unknown> = {}): ConfigPatch => ({ bulk: { lock: { h0, h1: 0, h2: 0, sigma: 0, ...extra } } });

describe('emulator Bulk API 2.0 ingest', function () {
  this.timeout(30_000);
  afterEach(async () => {
    for (const e of emulators.splice(0)) await e.close();
  });

  describe('lock model (lock-model.md §7.9)', () => {
    it('1. one 500-row job on a quiet org: one batch, 3 chunks, JobComplete, retries 0, latency = pickup + ΣH', async () => {
      const emu = await emulator({ bulk: { lock: { sigma: 0 } } });
      const id = await submit(emu, csvRows(500, () => 'acc1'));
      const done = await waitDone(emu, id);
      expect(done.state).to.equal('JobComplete');
      expect(done.retries).to.equal(0);
      expect(done.numberRecordsProcessed).to.equal(500);
      expect(done.numberRecordsFailed).to.equal(0);
      const rec = emu.bulk.inspectJob(id)!;
      expect(rec.internalBatches).to.equal(1);
      expect(rec.chunks).to.equal(3);
      // pickup 1 s + H(200,1) + H(200,1) + H(100,1) with H = 0.5 + 0.006 n + 0.002 p
      const expected = 1 + 2 * (0.5 + 1.2 + 0.002) + (0.5 + 0.6 + 0.002);
      expect(rec.durationMs! / 1000).to.be.closeTo(expected, 1e-6);
      expect(done.totalProcessingTime).to.be.closeTo(expected * 1000 - 0, 1);
      expect(emu.limits.used('DailyBulkApiBatches')).to.equal(1);
      expect(emu.target.summary('Opportunity').rows).to.equal(500);
    });

    it('1b. a job is cut into internal batches of batchSize, each spending DailyBulkApiBatches', async () => {
      const emu = await emulator({ bulk: { lock: { batchSize: 400 } } });
      const id = await submit(emu, csvRows(1000, (i) => `acc${i}`));
      const done = await waitDone(emu, id);
      expect(done.state).to.equal('JobComplete');
      expect(emu.bulk.inspectJob(id)!.internalBatches).to.equal(3);
      expect(emu.limits.used('DailyBulkApiBatches')).to.equal(3);
    });

    it('2. concurrent jobs on one parent: the second waits H; the k-th with (k−1)·H > T_lock fails all 200 rows', async () => {
      const emu = await emulator(fixedHold(4));
      const ids = await frozen(emu, async () => {
        const out: string[] = [];
        for (let k = 0; k < 4; k++) out.push(await submit(emu, csvRows(200, () => 'hotAcc', k * 200)));
        return out;
      });
      const infos = await Promise.all(ids.map((id) => waitDone(emu, id)));
      expect(infos.map((j) => j.state)).to.deep.equal(['JobComplete', 'JobComplete', 'JobComplete', 'JobComplete']);
      expect(infos.map((j) => j.numberRecordsFailed)).to.deep.equal([0, 0, 0, 200]);
      expect(infos[3].numberRecordsProcessed).to.equal(200);
      const recs = ids.map((id) => emu.bulk.inspectJob(id)!);
      expect(recs[1].completedAt! - recs[0].completedAt!).to.be.closeTo(4000, 1e-6);
      expect(recs[2].completedAt! - recs[1].completedAt!).to.be.closeTo(4000, 1e-6);
      expect(recs[3].durationMs).to.be.closeTo(1000 + 10_000, 1e-6); // pickup + waited T_lock
      const failed = await results(emu, ids[3], 'failedResults');
      expect(failed.rows).to.have.length(200);
      for (const r of failed.rows) {
        expect(r.sf__Error).to.equal('UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 200 records: hotAcc:--');
        expect(r.sf__Id).to.equal('');
      }
      expect((await results(emu, ids[3], 'successfulResults')).rows).to.have.length(0);
    });

    it('3a. >100 lock failures in an attempt requeue the remainder (retries++); failed rows are not retried', async () => {
      const emu = await emulator(fixedHold(4));
      const ids = await frozen(emu, async () => {
        const out: string[] = [];
        for (let k = 0; k < 3; k++) out.push(await submit(emu, csvRows(200, () => 'hotAcc', k * 200)));
        out.push(await submit(emu, csvRows(400, () => 'hotAcc', 600)));
        return out;
      });
      const d = await waitDone(emu, ids[3]);
      expect(d.state).to.equal('JobComplete');
      expect(d.retries).to.equal(1);
      expect(d.numberRecordsProcessed).to.equal(400);
      expect(d.numberRecordsFailed).to.equal(200);
      const rec = emu.bulk.inspectJob(ids[3])!;
      expect(rec.batchAttempts).to.equal(2);
      expect(rec.lockFailures).to.equal(200);
      const failedIds = new Set((await results(emu, ids[3], 'failedResults')).rows.map((r) => r.External_ID__c));
      const okIds = (await results(emu, ids[3], 'successfulResults')).rows.map((r) => r.External_ID__c);
      expect(okIds).to.have.length(200);
      for (const k of okIds) expect(failedIds.has(k)).to.equal(false);
      // The first chunk (rows 600..799) failed; the requeued remainder (800..999) succeeded.
      expect([...failedIds].sort()[0]).to.equal('opp0000600');
    });

    it('3b. after maxBatchAttempts requeues the job is Failed and the rest is in unprocessedrecords', async () => {
      const emu = await emulator({ bulk: { lock: { h0: 0, h1: 0.2, h2: 0, sigma: 0, maxBatchAttempts: 1 } } });
      const [, b] = await frozen(emu, async () => [await submit(emu, csvRows(200, () => 'hotAcc')), await submit(emu, csvRows(1000, () => 'hotAcc', 200))]);
      const j = await waitDone(emu, b);
      expect(j.state).to.equal('Failed');
      expect(j.retries).to.equal(1);
      expect(j.numberRecordsFailed).to.equal(400);
      expect(j.numberRecordsProcessed).to.equal(400);
      expect(j.errorMessage).to.match(/^TooManyLockFailure : /);
      const un = await results(emu, b, 'unprocessedrecords');
      expect(un.rows).to.have.length(600);
      expect(un.text.split('\n')[0]).to.equal(HEADER);
      expect((await results(emu, b, 'failedResults')).rows).to.have.length(400);
      expect(emu.bulk.inspectJob(b)!.unprocessed).to.equal(600);
    });

    it('4 & 5. sorted by parent → no failures; shuffled → many; results shuffled and consistent with counters', async () => {
      const rowsPerJob = 1000;
      const jobs = 10;
      const parentOfShuffled = (i: number): string => `acc${String(Math.floor(((i * 7919) % 1000) / 10)).padStart(3, '0')}`; // 100 parents, mixed order
      const runLoad = async (sorted: boolean): Promise<{ emu: Emulator; ids: string[] }> => {
        const emu = await emulator();
        const all = Array.from({ length: rowsPerJob * jobs }, (_, i) => i);
        const parent = sorted ? (i: number): string => `acc${String(Math.floor(i / 100)).padStart(3, '0')}` : parentOfShuffled;
        const ids = await frozen(emu, async () => {
          const out: string[] = [];
          for (let k = 0; k < jobs; k++) out.push(await submit(emu, csvRows(rowsPerJob, parent, all[k * rowsPerJob])));
          return out;
        });
        return { emu, ids };
      };
      const sorted = await runLoad(true);
      const shuffled = await runLoad(false);
      const total = async (x: { emu: Emulator; ids: string[] }): Promise<{ failed: number; processed: number; infos: JobInfo[] }> => {
        const infos = await Promise.all(x.ids.map((id) => waitDone(x.emu, id, 20_000)));
        return { failed: infos.reduce((a, j) => a + j.numberRecordsFailed, 0), processed: infos.reduce((a, j) => a + j.numberRecordsProcessed, 0), infos };
      };
      const s = await total(sorted);
      const u = await total(shuffled);
      expect(s.failed).to.equal(0);
      expect(s.processed).to.equal(rowsPerJob * jobs);
      expect(u.failed / (rowsPerJob * jobs)).to.be.greaterThan(0.2);

      // 5: counters consistent with the CSVs; order not the input order.
      let inputOrder = 0;
      for (const [k, id] of shuffled.ids.entries()) {
        const ok = await results(shuffled.emu, id, 'successfulResults');
        const bad = await results(shuffled.emu, id, 'failedResults', true);
        const un = await results(shuffled.emu, id, 'unprocessedrecords/'.slice(0, -1));
        const j = u.infos[k];
        expect(bad.rows.length).to.equal(j.numberRecordsFailed);
        expect(ok.rows.length + bad.rows.length).to.equal(j.numberRecordsProcessed);
        expect(ok.rows.length + bad.rows.length + un.rows.length).to.equal(rowsPerJob);
        expect(ok.text.split('\n')[0]).to.equal(`"sf__Id","sf__Created",${HEADER}`);
        expect(bad.text.split('\n')[0]).to.equal(`"sf__Id","sf__Error",${HEADER}`);
        for (const r of ok.rows) {
          expect(r.sf__Id).to.match(/^006/);
          expect(r.sf__Created).to.equal('true');
        }
        for (const r of bad.rows) expect(r.sf__Error).to.match(/^UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or \d+ records: acc\d{3}(,acc\d{3})*:--$/);
        const keys = ok.rows.map((r) => r.External_ID__c);
        if (keys.length >= 10 && keys.join() === [...keys].sort().join()) inputOrder++;
        // every value is quoted
        const line = ok.text.split('\n')[1];
        if (line) expect(line.startsWith('"006')).to.equal(true);
      }
      expect(inputOrder).to.equal(0);
      const okTotal = u.infos.reduce((a, j) => a + j.numberRecordsProcessed - j.numberRecordsFailed, 0);
      expect(shuffled.emu.target.summary('Opportunity').rows).to.equal(okTotal);
      const sum = shuffled.emu.bulk.summary();
      expect(sum.lockFailedRows).to.equal(u.failed);
      expect(sum.retries).to.be.greaterThan(0);
      expect(sum.busyWorkerSeconds).to.be.greaterThan(0);
      expect(sum.physicalLimitSeconds).to.be.closeTo(sum.busyWorkerSeconds / sum.workers, 1e-9);
    });

    it('lock.enabled=false: no lock failures at all', async () => {
      const emu = await emulator({ bulk: { lock: { enabled: false } } });
      const ids = await frozen(emu, async () => {
        const out: string[] = [];
        for (let k = 0; k < 8; k++) out.push(await submit(emu, csvRows(400, () => 'hotAcc', k * 400)));
        return out;
      });
      const infos = await Promise.all(ids.map((id) => waitDone(emu, id)));
      expect(infos.every((j) => j.state === 'JobComplete' && j.numberRecordsFailed === 0)).to.equal(true);
    });
  });

  describe('wire protocol', () => {
    it('create answers a JobInfo per the doc', async () => {
      const emu = await emulator();
      const job = await createJob(emu);
      expect(job.id).to.have.length(18);
      expect(job.id.startsWith('750')).to.equal(true);
      expect(job).to.include({ operation: 'upsert', object: 'Opportunity', state: 'Open', externalIdFieldName: 'External_ID__c', concurrencyMode: 'Parallel', contentType: 'CSV', apiVersion: 62, lineEnding: 'LF', columnDelimiter: 'COMMA' });
      expect(job.contentUrl).to.equal(`services/data/v62.0/jobs/ingest/${job.id}/batches`);
      expect(job.createdDate).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
      const full = await info(emu, job.id);
      expect(full).to.include({ jobType: 'V2Ingest', numberRecordsProcessed: 0, numberRecordsFailed: 0, retries: 0, totalProcessingTime: 0, apiActiveProcessingTime: 0, apexProcessingTime: 0 });
      const list = await json<{ done: boolean; records: JobInfo[]; nextRecordsUrl: null }>(await call(emu, 'GET', `${V}/jobs/ingest`));
      expect(list.done).to.equal(true);
      expect(list.nextRecordsUrl).to.equal(null);
      expect(list.records.map((r) => r.id)).to.deep.equal([job.id]);
    });

    it('create rejects concurrencyMode, unknown objects, bad operations and non-external-id upsert keys', async () => {
      const emu = await emulator();
      const post = async (body: unknown): Promise<{ status: number; body: Array<{ errorCode: string; message: string }> }> => {
        const res = await call(emu, 'POST', `${V}/jobs/ingest`, body);
        return { status: res.status, body: await json(res) };
      };
      let r = await post({ object: 'Opportunity', operation: 'insert', concurrencyMode: 'Serial' });
      expect(r.status).to.equal(400);
      expect(r.body[0].message).to.equal("Property currently unsupported: 'concurrencyMode'");
      r = await post({ object: 'Nope__c', operation: 'insert' });
      expect(r.status).to.equal(400);
      expect(r.body[0].errorCode).to.equal('INVALIDJOB');
      expect(r.body[0].message).to.contain('Nope__c');
      r = await post({ object: 'Opportunity', operation: 'merge' });
      expect(r.status).to.equal(400);
      r = await post({ object: 'Opportunity', operation: 'upsert' });
      expect(r.status).to.equal(400);
      r = await post({ object: 'Opportunity', operation: 'upsert', externalIdFieldName: 'Name' });
      expect(r.status).to.equal(400);
      r = await post({ object: 'Opportunity', operation: 'insert', lineEnding: 'CR' });
      expect(r.status).to.equal(400);
      r = await post({ object: 'Opportunity', operation: 'insert', columnDelimiter: 'STAR' });
      expect(r.status).to.equal(400);
    });

    it('exactly one PUT per job; chunked uploads; maxUploadBytes', async () => {
      const emu = await emulator();
      const job = await createJob(emu);
      const csv = csvRows(300, (i) => `acc${i % 7}`);
      const enc = new TextEncoder();
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < csv.length; i += 1000) c.enqueue(enc.encode(csv.slice(i, i + 1000)));
          c.close();
        },
      });
      expect((await call(emu, 'PUT', `${V}/jobs/ingest/${job.id}/batches`, stream, 'text/csv')).status).to.equal(201);
      const second = await call(emu, 'PUT', `${V}/jobs/ingest/${job.id}/batches`, csv, 'text/csv');
      expect(second.status).to.equal(400);
      const err = await json<Array<{ errorCode: string; message: string }>>(second);
      expect(err[0].message).to.contain('Found multiple contents for job');
      expect((await call(emu, 'PATCH', `${V}/jobs/ingest/${job.id}`, { state: 'UploadComplete' })).status).to.equal(200);
      expect((await waitDone(emu, job.id)).numberRecordsProcessed).to.equal(300);

      emu.configure({ bulk: { maxUploadBytes: 100 } });
      const small = await createJob(emu);
      expect((await call(emu, 'PUT', `${V}/jobs/ingest/${small.id}/batches`, csv, 'text/csv')).status).to.equal(400);
    });

    it('line ending mismatch and unknown fields fail the job with the real errorMessage', async () => {
      const emu = await emulator();
      const crlf = csvRows(10, () => 'a').replace(/\n/g, '\r\n');
      const j1 = await waitDone(emu, await submit(emu, crlf));
      expect(j1.state).to.equal('Failed');
      expect(j1.errorMessage).to.equal('ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is LF');
      const j1b = await waitDone(emu, await submit(emu, csvRows(10, () => 'a'), { lineEnding: 'CRLF' }));
      expect(j1b.errorMessage).to.equal('ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is CRLF');
      expect((await waitDone(emu, await submit(emu, crlf, { lineEnding: 'CRLF' }))).state).to.equal('JobComplete');

      const j2 = await waitDone(emu, await submit(emu, 'External_ID__c,Bogus__c\nx1,1\n'));
      expect(j2.state).to.equal('Failed');
      expect(j2.errorMessage).to.equal('InvalidBatch : Field name not found : Bogus__c');
      const un = await results(emu, j2.id, 'unprocessedrecords');
      expect(un.rows).to.deep.equal([{ External_ID__c: 'x1', Bogus__c: '1' }]);
      const j3 = await waitDone(emu, await submit(emu, 'External_ID__c,Account.Bogus__c\nx1,1\n'));
      expect(j3.errorMessage).to.equal('InvalidBatch : Field name not found : Account.Bogus__c');
      const j4 = await waitDone(emu, await submit(emu, 'Name,StageName\nx1,Won\n'));
      expect(j4.state).to.equal('Failed');
      const j5 = await waitDone(emu, await submit(emu, 'External_ID__c,AccountId,Name\nx1,001000000000001AAA,N\n'));
      expect(j5.state).to.equal('JobComplete');
    });

    it('unknown job → 404; delete only when not Open/InProgress; results only when terminal', async () => {
      const emu = await emulator();
      for (const [m, p] of [
        ['GET', '750EM0000000999AAA'],
        ['DELETE', '750EM0000000999AAA'],
        ['GET', '750EM0000000999AAA/failedResults'],
      ]) {
        const res = await call(emu, m, `${V}/jobs/ingest/${p}`);
        expect(res.status).to.equal(404);
        expect(await res.json()).to.deep.equal([{ message: 'The requested resource does not exist', errorCode: 'NOT_FOUND' }]);
      }
      const open = await createJob(emu);
      expect((await call(emu, 'DELETE', `${V}/jobs/ingest/${open.id}`)).status).to.equal(400);
      expect((await call(emu, 'GET', `${V}/jobs/ingest/${open.id}/successfulResults`)).status).to.equal(400);

      const id = await frozen(emu, async () => {
        const x = await submit(emu, csvRows(600, () => 'p'));
        expect((await info(emu, x)).state).to.equal('InProgress');
        const del = await call(emu, 'DELETE', `${V}/jobs/ingest/${x}`);
        expect(del.status).to.equal(400);
        expect((await json<Array<{ errorCode: string }>>(del))[0].errorCode).to.equal('INVALIDJOBSTATE');
        expect((await call(emu, 'GET', `${V}/jobs/ingest/${x}/failedResults/`)).status).to.equal(400);
        expect((await call(emu, 'PATCH', `${V}/jobs/ingest/${x}`, { state: 'UploadComplete' })).status).to.equal(400);
        return x;
      });
      await waitDone(emu, id);
      expect((await call(emu, 'PATCH', `${V}/jobs/ingest/${id}`, { state: 'Aborted' })).status).to.equal(400);
      expect((await call(emu, 'DELETE', `${V}/jobs/ingest/${id}`)).status).to.equal(204);
      expect((await call(emu, 'GET', `${V}/jobs/ingest/${id}`)).status).to.equal(404);
      expect(emu.bulk.inspectJob(id)!.deleted).to.equal(true);
    });

    it('abort: queued and running work stops, the rest is unprocessed', async () => {
      const emu = await emulator({ timeScale: 20, bulk: { lock: { batchSize: 200, workers: 1 } } });
      const id = await submit(emu, csvRows(2000, (i) => `a${i}`));
      await new Promise((r) => setTimeout(r, 150));
      const res = await call(emu, 'PATCH', `${V}/jobs/ingest/${id}`, { state: 'Aborted' });
      expect((await json<JobInfo>(res)).state).to.equal('Aborted');
      const j = await waitDone(emu, id);
      expect(j.state).to.equal('Aborted');
      await emu.bulk.whenIdle();
      const un = await results(emu, id, 'unprocessedrecords');
      const ok = await results(emu, id, 'successfulResults');
      expect(un.rows.length + ok.rows.length + (await results(emu, id, 'failedResults')).rows.length).to.equal(2000);
      expect(un.rows.length).to.be.greaterThan(1000);
      expect(ok.rows.length).to.be.greaterThan(0);

      // Aborted at the very instant of submission: nothing runs.
      const id2 = await frozen(emu, async () => {
        const x = await submit(emu, csvRows(1000, (i) => `a${i}`));
        expect((await call(emu, 'PATCH', `${V}/jobs/ingest/${x}`, { state: 'Aborted' })).status).to.equal(200);
        return x;
      });
      await emu.bulk.whenIdle();
      expect((await results(emu, id2, 'unprocessedrecords')).rows).to.have.length(1000);
      expect(emu.bulk.inspectJob(id2)).to.include({ state: 'Aborted', succeeded: 0, unprocessed: 1000 });
    });

    it('row rules, job failure rules, delimiters, insert and update', async () => {
      const emu = await emulator({
        bulk: {
          rowRules: [{ name: 'closed', code: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: 'Close Date must be in the future', match: { field: 'Name', regex: '7$' } }],
          jobFailures: [{ jobNumbers: [2], errorMessage: 'InvalidBatch : Simulated failure' }],
        },
      });
      const j1 = await waitDone(emu, await submit(emu, csvRows(100, () => 'a').replace(/,/g, ';'), { columnDelimiter: 'SEMICOLON' }));
      expect(j1.numberRecordsFailed).to.equal(10);
      const bad = await results(emu, j1.id, 'failedResults', false, ';');
      expect(bad.text.split('\n')[0]).to.equal(`"sf__Id";"sf__Error";${HEADER.replace(/,/g, ';')}`);
      expect(bad.rows).to.have.length(10);
      expect(bad.rows[0].sf__Error).to.equal('FIELD_CUSTOM_VALIDATION_EXCEPTION:Close Date must be in the future:--');
      const j2 = await waitDone(emu, await submit(emu, csvRows(5, () => 'a')));
      expect(j2.state).to.equal('Failed');
      expect(j2.errorMessage).to.equal('InvalidBatch : Simulated failure');

      const ins = await waitDone(emu, await submit(emu, 'Name,StageName,CloseDate\n"Quoted, name",Prospecting,2026-01-01\nOther,#N/A,2026-01-01\n', { operation: 'insert' }));
      expect(ins.state).to.equal('JobComplete');
      const ok = (await results(emu, ins.id, 'successfulResults')).rows;
      expect(ok.map((r) => r.sf__Created)).to.deep.equal(['true', 'true']);
      expect(ok.map((r) => r.Name).sort()).to.deep.equal(['Other', 'Quoted, name']);
      const someId = ok[0].sf__Id;
      const upd = await waitDone(emu, await submit(emu, `Id,StageName\n${someId},Closed Won\n006000000099999AAA,Closed Won\n`, { operation: 'update' }));
      expect(upd.numberRecordsProcessed).to.equal(2);
      expect(upd.numberRecordsFailed).to.equal(1);
      const updOk = (await results(emu, upd.id, 'successfulResults')).rows;
      expect(updOk).to.deep.equal([{ sf__Id: someId, sf__Created: 'false', Id: someId, StageName: 'Closed Won' }]);

      // upsert again: updates are sf__Created false
      const again = await waitDone(emu, await submit(emu, csvRows(3, () => 'a')));
      expect((await results(emu, again.id, 'successfulResults')).rows.every((r) => r.sf__Created === 'false')).to.equal(true);
    });
  });
});
