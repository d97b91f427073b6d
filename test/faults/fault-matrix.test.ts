/*
 * Issue 12, suite 1: the fault matrix. Each fault a load meets in hours against a shared org,
 * injected by the emulator over HTTP while the plugin's own commands run (`node bin/run.js
 * datacloud load …`), either ridden out, and then the emulator's target equals the source less
 * the listed failures and `status` totals equal what the emulator holds, or the run stops
 * cleanly: exit 3, a JSON error naming the fault, actions, and `next` = the resume command,
 * which is then run as printed and finishes the load.
 *
 * Jobs' own failures are contained (retried or listed); only authentication, limits, the
 * circuit breaker and unwritable run files stop the run. Cases that must act while the run
 * is going hold it with an emulator switch (bulk.hold / holdAfterJobs) and wait for a fact
 * (a ledger line, a held job, a request in the emulator's log), never for a moment in time.
 * Orphans, read-only and full run directories are in fault-files.test.ts.
 */
import { expect } from 'chai';
import { generateDataset } from '../emulator/dataset.js';
import type { HttpFault } from '../emulator/config.js';
import { expectedOpportunities, FaultHarness, printCaseCount } from '../helpers/fault-harness.js';
import { failedNow, jobLog } from '../helpers/ledger.js';

const V = '^/services/data/v[0-9.]+';
/** Every endpoint the plugin calls, by the API it belongs to. */
const ENDPOINTS: Record<'org' | 'query-sql' | 'queryv2' | 'bulk', Array<{ method: string; path: string; name: string }>> = {
  org: [
    { method: 'GET', path: `${V}/sobjects/[^/]+/describe$`, name: 'describe' },
    { method: 'GET', path: `${V}/limits$`, name: '/limits' },
  ],
  'query-sql': [
    { method: 'POST', path: `${V}/ssot/query-sql$`, name: 'POST query-sql' },
    { method: 'GET', path: `${V}/ssot/query-sql/[^/]+$`, name: 'GET query-sql status' },
    { method: 'GET', path: `${V}/ssot/query-sql/[^/]+/rows$`, name: 'GET query-sql rows' },
    { method: 'DELETE', path: `${V}/ssot/query-sql/[^/]+$`, name: 'DELETE query-sql' },
  ],
  queryv2: [
    { method: 'POST', path: `${V}/ssot/queryv2$`, name: 'POST queryv2' },
    { method: 'GET', path: `${V}/ssot/queryv2/[^/]+$`, name: 'GET queryv2 next batch' },
  ],
  bulk: [
    { method: 'POST', path: `${V}/jobs/ingest$`, name: 'create job' },
    { method: 'GET', path: `${V}/jobs/ingest$`, name: 'list jobs' },
    { method: 'PUT', path: `${V}/jobs/ingest/[^/]+/batches$`, name: 'upload' },
    { method: 'PATCH', path: `${V}/jobs/ingest/[^/]+$`, name: 'close job' },
    { method: 'GET', path: `${V}/jobs/ingest/[^/]+$`, name: 'job info' },
    { method: 'GET', path: `${V}/jobs/ingest/[^/]+/successfulResults$`, name: 'successful results' },
    { method: 'GET', path: `${V}/jobs/ingest/[^/]+/failedResults$`, name: 'failed results' },
    { method: 'DELETE', path: `${V}/jobs/ingest/[^/]+$`, name: 'delete job' },
  ],
};

describe('fault matrix (issue 12): each fault is ridden out or stops the run cleanly, resumable', function () {
  after(function () {
    printCaseCount(this);
  });
  this.timeout(900_000);
  let h: FaultHarness;
  let cases = 0;
  const ds = generateDataset({ rows: 3_000, parents: 120, seed: 12, shuffle: true });
  const expected = expectedOpportunities(ds);
  const PACING = { rowsPerJob: 250, maxConcurrency: 4 };

  before(async () => {
    h = await FaultHarness.start();
  });
  after(async () => {
    console.log(`      fault matrix: ${cases} cases`);
    await h?.close();
  });
  afterEach(async () => h.reset());

  /** The load finished: target = source less the listed failures, status = emulator, nothing counted twice. */
  async function completed(res: Awaited<ReturnType<FaultHarness['start']>>, label: string, opts: { failed?: number; codes?: string[] } = {}): Promise<void> {
    const context = `${label}: exit ${res.code}\n${res.stdout.slice(0, 2000)}\n${res.stderr.slice(-3000)}`;
    expect(res.json?.result?.state, context).to.equal('completed');
    expect(res.code, context).to.equal(opts.failed ? 2 : 0);
    const run = h.run(res.json.result.runId);
    const failed = failedNow(run);
    expect(failed.length, context).to.equal(opts.failed ?? 0);
    if (opts.codes) expect([...new Set(failed.map((f) => f.code))].sort(), context).to.deep.equal(opts.codes);
    h.expectTarget(expected, failed.map((f) => String(f.key)), label);
    const s = await h.expectStatusMatchesEmulator(run.runId, label);
    expect(s.totals.read).to.equal(ds.table.rows.length);
    cases++;
  }

  /** Each record was written by exactly one upload: no row sent twice. */
  function writtenOnce(label: string): void {
    const twice = [...h.emu.target.table('Opportunity').values()].filter((r) => r.writes !== 1).length;
    expect(twice, `${label}: records written more than once`).to.equal(0);
  }

  /** Requests the emulator answered with a fault (status ≥ 500 or 429, or dropped), by endpoint name. */
  function faultedEndpoints(list: Array<{ method: string; path: string; name: string }>, from: number): Set<string> {
    const out = new Set<string>();
    for (const r of h.emu.requests.slice(from)) {
      if (!(r.status >= 500 || r.status === 429 || r.status < 0)) continue;
      for (const e of list) if (e.method === r.method && new RegExp(e.path).test(r.path)) out.add(e.name);
    }
    return out;
  }

  describe('HTTP 500/503 on every endpoint the plugin calls', () => {
    for (const api of ['query-sql', 'queryv2'] as const) {
      it(`5 % HTTP 500/503 on every endpoint (planning, describe, /limits, ${api}, Bulk), each at least once: the load completes`, async () => {
        const def = h.serve(`http5xx-${api}`, ds, PACING);
        // Data Cloud answers Running first and pages by /rows (query-sql), or in small batches (queryv2), so every call is made.
        h.emu.configure({ dataCloud: { querySqlEnabled: api === 'query-sql', runningPolls: 1, maxRowLimit: 100, queryv2BatchRows: 100 } });
        const list = [...ENDPOINTS.org, ...ENDPOINTS[api], ...ENDPOINTS.bulk];
        const once: HttpFault[] = list.map((e, i) => ({ method: e.method, path: e.path, status: i % 2 ? 500 : 503, errorCode: i % 2 ? 'UNKNOWN_EXCEPTION' : 'SERVER_UNAVAILABLE', message: 'Injected', times: 1 }));
        const from = h.emu.requests.length;
        const mark = h.jobMark();
        h.emu.configure({
          faults: [
            ...once,
            { path: '^/services/', status: 500, errorCode: 'UNKNOWN_EXCEPTION', message: 'An unexpected error occurred', rate: 0.025 },
            { path: '^/services/', status: 503, errorCode: 'SERVER_UNAVAILABLE', message: 'Server temporarily unavailable', rate: 0.025 },
          ],
        });
        const res = await h.start(def);
        const hit = faultedEndpoints(list, from);
        await completed(res, `5xx ${api}`);
        // Every endpoint the plugin called got a 5xx. The job list is called only to find a create whose answer was lost, so only when a create failed.
        const called = new Set(list.filter((e) => h.emu.requests.slice(from).some((r) => r.method === e.method && new RegExp(e.path).test(r.path))).map((e) => e.name));
        expect(list.map((e) => e.name).filter((n) => n !== 'list jobs' && !called.has(n)), 'endpoints never called').to.deep.equal([]);
        expect([...called].filter((n) => !hit.has(n)), 'endpoints called that never got a 5xx').to.deep.equal([]);
        expect(h.openJobs(mark), 'no Open job left in the org').to.deep.equal([]);
      });
    }
  });

  describe('throttling: 429 and REQUEST_LIMIT_EXCEEDED (a concurrency limit) are ridden out', () => {
    it('429 and REQUEST_LIMIT_EXCEEDED (a concurrency limit) on the query API: the org\'s concurrent-query cap (set to 1), injected 429s on POST and /rows, the limit on status polls', async () => {
      const def = h.serve('query429', ds, { ...PACING, maxConcurrentQueries: 4 });
      h.emu.configure({
        dataCloud: { runningPolls: 1, maxRowLimit: 100, maxConcurrentQueries: 1 },
        faults: [
          { method: 'POST', path: `${V}/ssot/query-sql$`, status: 429, errorCode: 'TOO_MANY_REQUESTS', message: 'Query API supports up to 15 concurrent requests. Try again later.', skip: 2, times: 3 },
          { method: 'GET', path: `${V}/ssot/query-sql/[^/]+/rows$`, status: 429, errorCode: 'TOO_MANY_REQUESTS', message: 'Too many requests', skip: 3, times: 2 },
          { method: 'GET', path: `${V}/ssot/query-sql/[^/]+$`, status: 403, errorCode: 'REQUEST_LIMIT_EXCEEDED', message: 'ConcurrentPerOrgLongTxn Limit exceeded', skip: 4, times: 2 },
        ],
      });
      const from = h.emu.requests.length;
      const res = await h.start(def);
      const throttled = h.emu.requests.slice(from).filter((r) => r.status === 429).length;
      await completed(res, 'query 429');
      expect(throttled, 'the org answered 429 more than the injected five times').to.be.greaterThan(5);
    });

    const bulkThrottle: HttpFault[] = [
      { method: 'POST', path: `${V}/jobs/ingest$`, status: 403, errorCode: 'REQUEST_LIMIT_EXCEEDED', message: 'ConcurrentPerOrgLongTxn Limit exceeded', skip: 1, times: 3 },
      { method: 'PUT', path: `${V}/jobs/ingest/[^/]+/batches$`, status: 429, errorCode: 'TOO_MANY_REQUESTS', message: 'Too many requests', skip: 2, times: 2 },
      { method: 'GET', path: `${V}/jobs/ingest/[^/]+$`, status: 429, errorCode: 'TOO_MANY_REQUESTS', message: 'Too many requests', skip: 2, times: 2 },
    ];

    it('429 and REQUEST_LIMIT_EXCEEDED "ConcurrentPerOrgLongTxn Limit exceeded" on Bulk create, upload and poll: completed, each record written once', async () => {
      const def = h.serve('bulk429', ds, PACING);
      const mark = h.jobMark();
      h.emu.configure({ faults: bulkThrottle });
      const res = await h.start(def);
      await completed(res, 'bulk 429');
      writtenOnce('bulk 429');
      expect(h.openJobs(mark)).to.deep.equal([]);
    });

    it('throttling on Bulk lowers the concurrency limit (a concurrency event below maxConcurrency)', async () => {
      const def = h.serve('bulk429-aimd', ds, PACING);
      h.emu.configure({ faults: bulkThrottle });
      const res = await h.start(def);
      expect(res.code, res.stderr.slice(-2000)).to.equal(0);
      const run = h.run(res.json.result.runId);
      const limits = run.readEvents().filter((e) => e.type === 'concurrency').map((e) => (e.data as { limit: number }).limit);
      expect(limits, 'concurrency limits the run recorded').to.not.deep.equal([]);
      expect(Math.min(...limits), 'the concurrency limit went down on throttling').to.be.lessThan(PACING.maxConcurrency);
      cases++;
    });
  });

  describe('dropped connections: the first attempt landed (after) or not (before); no row sent or counted twice', () => {
    const steps = [
      { name: 'mid-upload (PUT /batches)', method: 'PUT', path: `${V}/jobs/ingest/[^/]+/batches$` },
      { name: 'mid-close (PATCH UploadComplete)', method: 'PATCH', path: `${V}/jobs/ingest/[^/]+$` },
      { name: 'mid-results download (successfulResults)', method: 'GET', path: `${V}/jobs/ingest/[^/]+/successfulResults$` },
      { name: 'mid-results download (failedResults)', method: 'GET', path: `${V}/jobs/ingest/[^/]+/failedResults$` },
      { name: 'on a job poll', method: 'GET', path: `${V}/jobs/ingest/[^/]+$` },
    ];
    for (const step of steps) {
      for (const drop of ['before', 'after'] as const) {
        it(`connection dropped ${step.name}, ${drop === 'after' ? 'after the request landed' : 'before it landed'}: completed, each record written once`, async () => {
          const def = h.serve(`drop-${drop}-${step.method}`, ds, PACING);
          const mark = h.jobMark();
          h.emu.configure({ faults: [{ method: step.method, path: step.path, drop, skip: 1, times: 4 }] });
          const from = h.emu.requests.length;
          const res = await h.start(def);
          const dropped = h.emu.requests.slice(from).filter((r) => r.status === (drop === 'after' ? -2 : -1)).length;
          await completed(res, `drop ${drop} ${step.name}`);
          expect(dropped, 'four connections were dropped').to.equal(4);
          writtenOnce(`drop ${drop} ${step.name}`);
          const run = h.run(res.json.result.runId);
          expect(jobLog(run).filter((r) => r.t === 'planned' && r.kind === 'retry'), 'no rows were sent again').to.deep.equal([]);
          expect(h.openJobs(mark), 'no Open job left in the org').to.deep.equal([]);
        });
      }
    }

    for (const concurrency of [1, 4]) {
      it(`a dropped POST /jobs/ingest that landed (${concurrency} job${concurrency > 1 ? 's' : ''} in flight): each lost create is adopted, one org job per planned job, no Open orphan left`, async () => {
        const def = h.serve(`drop-create-after-${concurrency}`, ds, { ...PACING, maxConcurrency: concurrency });
        h.emu.configure({ faults: [{ method: 'POST', path: `${V}/jobs/ingest$`, drop: 'after', skip: 1, times: 3 }] });
        const mark = h.jobMark();
        const res = await h.start(def);
        await completed(res, `drop after create (${concurrency})`);
        writtenOnce('drop after create');
        const log = jobLog(h.run(res.json.result.runId));
        expect(h.openJobs(mark), 'no Open job left in the org').to.deep.equal([]);
        const planned = log.filter((r) => r.t === 'planned' && r.kind !== 'reject').length;
        expect(h.jobMark() - mark, 'one org job per planned job: the lost creates were adopted, not made again').to.equal(planned);
        expect(log.filter((r) => r.t === 'created' && (r as { adopted?: boolean }).adopted), 'three creates adopted').to.have.length(3);
      });
    }

    it('a dropped POST /jobs/ingest that did not land: created again, one org job per planned job, none left Open', async () => {
      const def = h.serve('drop-create-before', ds, PACING);
      h.emu.configure({ faults: [{ method: 'POST', path: `${V}/jobs/ingest$`, drop: 'before', skip: 1, times: 3 }] });
      const mark = h.jobMark();
      const res = await h.start(def);
      await completed(res, 'drop before create');
      writtenOnce('drop before create');
      const planned = jobLog(h.run(res.json.result.runId)).filter((r) => r.t === 'planned' && r.kind !== 'reject').length;
      expect(h.jobMark() - mark).to.equal(planned);
      expect(h.openJobs(mark)).to.deep.equal([]);
    });
  });

  describe('authentication', () => {
    it('INVALID_SESSION_ID in the middle of a run: stops with "log in again, then resume"; after a new login the printed resume finishes', async () => {
      const def = h.serve('session', ds, PACING);
      h.holdAfter(3);
      const s = h.spawnStart(def);
      const runId = await s.runId();
      // Three jobs ran, the fourth is held: the run is mid-way. Then the token is revoked.
      await h.heldJob();
      const oldToken = h.emu.token;
      h.emu.configure({ auth: { token: '00D000000000001AAA!rotated.token' }, bulk: { holdAfterJobs: null } });
      const res = await s.result();
      const stop = h.expectCleanStop(res, { name: 'SessionExpiredError', message: /INVALID_SESSION_ID/ });
      expect(stop.runId).to.equal(runId);
      expect(res.json.result.error.actions.join(' ')).to.match(/log in again/i).and.to.match(/sf org login/).and.to.match(/resume/);
      expect(res.stdout + res.stderr).to.not.contain(oldToken);
      // Resume before logging in again: refused, nothing changed (its error is checked in the next case).
      const linesBefore = jobLog(h.run(runId)).length;
      const early = await h.runPrinted(stop.next);
      expect(early.code, early.stdout.slice(0, 2000)).to.be.oneOf([1, 3]);
      expect(jobLog(h.run(runId)).length, 'a refused resume records no job').to.equal(linesBefore);
      await h.loginAgain();
      const done = await h.runPrinted(stop.next);
      await completed(done, 'session');
    });

    it('an expired session while start or resume plans (before any job): exit 1 or 3 with SessionExpiredError and a login action, not a raw API error', async () => {
      const def = h.serve('session-plan', ds, PACING);
      h.holdAfter(1);
      const s = h.spawnStart(def);
      await h.heldJob();
      h.emu.configure({ auth: { token: '00D000000000001AAA!rotated.token' }, bulk: { holdAfterJobs: null } });
      const stopped = h.expectCleanStop(await s.result(), { name: 'SessionExpiredError' });
      const said: string[] = [];
      for (const res of [await h.start(def), await h.runPrinted(stopped.next)]) {
        expect(res.code, res.stdout.slice(0, 2000)).to.be.oneOf([1, 3]);
        const error = res.code === 3 ? res.json?.result?.error : res.json;
        said.push(`${error?.name}: ${(error?.actions ?? []).join(' ')}`);
      }
      expect(said[0], 'start').to.match(/^SessionExpiredError: .*sf org login/);
      expect(said[1], 'resume').to.match(/^SessionExpiredError: .*sf org login/);
      cases++;
    });
  });

  describe('jobs that end Failed at job level are contained', () => {
    it('a job Failed with an unknown error (transient): its rows are sent again in a retry job and load', async () => {
      const def = h.serve('job-unknown', ds, PACING);
      const n = h.emu.bulk.inspectJobs().length;
      h.emu.configure({ bulk: { jobFailures: [{ jobNumbers: [n + 2, n + 5], errorMessage: 'Unknown : an internal error occurred, please retry' }] } });
      const res = await h.start(def);
      await completed(res, 'job unknown');
      const log = jobLog(h.run(res.json.result.runId));
      expect(log.filter((r) => r.t === 'result' && r.state === 'Failed'), 'two jobs ended Failed').to.have.length(2);
      expect(log.filter((r) => r.t === 'planned' && r.kind === 'retry'), 'their rows went into retry jobs').to.have.length(2);
    });

    it('a job Failed with InvalidBatch (permanent): its rows are listed with that code, the rest loads (exit 2, not a stop)', async () => {
      const def = h.serve('job-invalidbatch', ds, PACING);
      const n = h.emu.bulk.inspectJobs().length;
      h.emu.configure({ bulk: { jobFailures: [{ jobNumbers: [n + 3], errorMessage: 'InvalidBatch : Field name not found : Amount' }] } });
      const res = await h.start(def);
      const log = jobLog(h.run(res.json.result.runId));
      const failedJobs = log.filter((r) => r.t === 'result' && r.state === 'Failed');
      expect(failedJobs, 'one job ended Failed').to.have.length(1);
      await completed(res, 'job InvalidBatch', { failed: (failedJobs[0] as { rows: number }).rows, codes: ['InvalidBatch'] });
      expect(res.json.result.next).to.equal(`sf datacloud load retry-failures -o emu --run-id ${res.json.result.runId}`);
    });

    it('a job whose upload the org refuses every time (400 InvalidBatch: larger than the org takes): its rows are listed, the others load (exit 2, not a stop)', async () => {
      const wide = generateDataset({ rows: 40, parents: 8, seed: 14, shuffle: true, extraColumns: 1, tableName: 'Wide__dlm' });
      const wideKey = String(wide.table.rows[5].ExternalId__c);
      wide.table.rows[5].Description__c = 'w'.repeat(50_000);
      const def = h.serve('upload-refused', wide, { rowsPerJob: 10, partitions: 1, maxConcurrency: 2 }, (d) => (d.target.mapping.Description__c = 'Description'));
      h.emu.configure({ bulk: { maxUploadBytes: 20_000 } });
      try {
        const res = await h.start(def);
        const context = `exit ${res.code}\n${res.stdout.slice(0, 3000)}`;
        expect(res.json?.result?.state, context).to.equal('completed');
        expect(res.code, context).to.equal(2);
        const failed = failedNow(h.run(res.json.result.runId));
        expect(failed.map((f) => String(f.key)), 'the refused job\'s rows are listed').to.include(wideKey);
        h.expectTarget(expectedOpportunities(wide), failed.map((f) => String(f.key)), 'upload refused');
        expect(failed.length, 'only that job\'s rows').to.be.at.most(10);
        cases++;
      } finally {
        h.emu.configure({ bulk: { maxUploadBytes: null } });
      }
    });

    it('a job Failed with ExceededQuota: stops cleanly (LimitsExhaustedError naming ExceededQuota), the rows kept; the printed resume finishes', async () => {
      const def = h.serve('job-quota', ds, { ...PACING, maxConcurrency: 2 });
      const n = h.emu.bulk.inspectJobs().length;
      h.emu.configure({ bulk: { jobFailures: [{ jobNumbers: [n + 3], errorMessage: 'ExceededQuota : The daily batch allocation (DailyBulkApiBatches) is exhausted.' }] } });
      const res = await h.start(def);
      const stop = h.expectCleanStop(res, { name: 'LimitsExhaustedError', message: /ExceededQuota/ });
      expect(res.json.result.state).to.equal('stopped');
      expect(res.json.result.totals.failed, 'no row failed for the quota').to.equal(0);
      h.emu.configure({ bulk: { jobFailures: [] } });
      await completed(await h.runPrinted(stop.next), 'job ExceededQuota');
    });
  });

  describe('daily allocations: the run stops before the org refuses, counting what is in flight', () => {
    // Lock errors from other org traffic make the run need retry jobs beyond its plan, so an
    // allocation that covers the plan (start accepts it) runs out during the run.
    const OTHER_TRAFFIC = { name: 'other-traffic', code: 'UNABLE_TO_LOCK_ROW', message: 'unable to obtain exclusive access to this record or 1 records: 001000000000001AAA', rate: 0.2, perAttempt: true };

    /** What went wrong, all at once: the guard's stop and the resume after it are separate promises. */
    async function limitCase(label: string, next: string, errorMessage: string, refusedByOrg: string[], message: RegExp, restore: () => void): Promise<void> {
      const problems: string[] = [];
      if (refusedByOrg.length) problems.push(`the org refused before the guard stopped the run: ${refusedByOrg.slice(0, 5).join('; ')}`);
      restore();
      h.emu.configure({ bulk: { rowRules: [] } });
      const done = await h.runPrinted(next);
      if (done.json?.result?.state !== 'completed') problems.push(`the printed resume, once the allocation was back, ended ${done.json?.result?.state} (exit ${done.code}): ${done.json?.result?.error?.message ?? done.stdout.slice(0, 300)}`);
      else await completed(done, label);
      expect(problems, label).to.deep.equal([]);
      expect(errorMessage, 'the guard names the allocation').to.match(message);
    }

    it('DailyBulkApiBatches: 14 left for 12 planned jobs and their retries: LimitsExhaustedError before any job ends ExceededQuota; the printed resume finishes once the allocation is back', async () => {
      const def = h.serve('limit-batches', ds, PACING);
      h.emu.configure({ bulk: { rowRules: [OTHER_TRAFFIC] } });
      h.emu.limits.set('DailyBulkApiBatches', 14, 15_000);
      const mark = h.jobMark();
      const res = await h.start(def);
      const stop = h.expectCleanStop(res, { name: 'LimitsExhaustedError' });
      expect(res.json.result.totals.pending + res.json.result.totals.unread, 'rows were left for resume').to.be.greaterThan(0);
      const refused = h.emu.bulk.inspectJobs().slice(mark).filter((j) => /ExceededQuota/.test(j.errorMessage ?? '')).map((j) => `${j.id} ended Failed: ${j.errorMessage}`);
      await limitCase('DailyBulkApiBatches', stop.next, res.json.result.error.message, refused, /Bulk API batches left/, () => h.emu.limits.set('DailyBulkApiBatches', 15_000, 15_000));
    });

    it('DailyApiRequests: 400 left (start accepts the plan) and retries needed: LimitsExhaustedError before the org answers REQUEST_LIMIT_EXCEEDED; the printed resume finishes once the allocation is back', async () => {
      const def = h.serve('limit-requests', ds, PACING);
      h.emu.configure({ bulk: { rowRules: [OTHER_TRAFFIC] } });
      h.emu.limits.set('DailyApiRequests', 400, 5_000_000);
      const from = h.emu.requests.length;
      const res = await h.start(def);
      const stop = h.expectCleanStop(res, { name: 'LimitsExhaustedError' });
      const refused = h.emu.requests.slice(from).filter((r) => r.status === 403).map((r) => `403 on ${r.method} ${r.path}`);
      await limitCase('DailyApiRequests', stop.next, res.json.result.error.message, refused, /API requests left/, () => h.emu.limits.set('DailyApiRequests', 5_000_000, 5_000_000));
    });
  });

  describe('a Data Cloud query that stays Running past its timeout', () => {
    // The client gives up on a query after queryTimeoutMs (src/source/datacloud-client.ts, 30 min by
    // default), but nothing the plugin reads (definition, flag, environment) sets it: engineDeps()
    // builds the client without it. The case runs only with FAULTS_SLOW=1 (it then waits the full
    // 30 minutes); otherwise it is skipped with that reason.
    it('a page query held Running (dataCloud.holdQueries): the run stops cleanly naming the query, then the printed resume finishes', async function () {
      if (process.env.FAULTS_SLOW !== '1') {
        console.log('      skipped: the query timeout (30 min) cannot be shortened through the plugin; FAULTS_SLOW=1 runs it in full');
        this.skip();
      }
      this.timeout(3_600_000);
      const def = h.serve('query-timeout', ds, { ...PACING, maxConcurrency: 1, readAhead: 0 });
      h.holdAfter(1);
      const s = h.spawnStart(def);
      await h.heldJob();
      h.emu.configure({ dataCloud: { holdQueries: true }, bulk: { holdAfterJobs: null } });
      const res = await s.result();
      const stop = h.expectCleanStop(res, { name: /Error$/, message: /Data Cloud query .* still running/ });
      h.emu.configure({ dataCloud: { holdQueries: false } });
      await completed(await h.runPrinted(stop.next), 'query timeout');
    });
  });
});
