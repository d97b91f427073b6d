/*
 * Finishing and recovering loads through the plugin's own commands against the emulator:
 * Ctrl-C and resume, retry-failures (twice), jobs that fail at job level (permanent: rows
 * failed; quota: the run stops; transient: rows retried), the circuit breaker, an expired
 * session, and a quote in a key. Exit codes: 0 every source row loaded, 2 finished with rows
 * not loaded, 3 stopped/failed/cancelled (resumable), 1 the command could not run; `next`
 * is runnable as printed (-o emu --run-id <id>).
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { startEmulator, type Emulator } from '../emulator/server.js';
import { generateDataset, datasetConfig } from '../emulator/dataset.js';
import { loginToEmulator, runPlugin, spawnPlugin, ROOT, type OrgHome } from '../helpers/plugin.js';
import { RunDir } from '../../src/state/run-dir.js';
import { failedNow, jobLog } from '../helpers/ledger.js';
import type { JobLogRecord } from '../../src/state/types.js';

const ajv = new Ajv({ allErrors: true, strict: false });
const startSchema = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'schemas/start.json'), 'utf8')));
const ROWS = 20_000;

describe('recovering and finishing loads', function () {
  this.timeout(600_000);
  let emu: Emulator;
  let org: OrgHome;
  const ds = generateDataset({ rows: ROWS, parents: 400, seed: 3, shuffle: true });
  // A key with a quote in it: it must survive SQL quoting on the way back (retry-failures).
  ds.table.rows.push({ ...ds.table.rows[0], ExternalId__c: "externalOpp'O''Brien\"", AccountExternalId__c: ds.table.rows[0].AccountExternalId__c });
  const total = ROWS + 1;

  function definition(name: string, pacing: Record<string, unknown> = {}): string {
    const file = join(org.home, `${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        source: { object: 'ExtOpportunities__dlm', keyColumn: 'ExternalId__c', parentColumn: 'AccountExternalId__c' },
        target: {
          object: 'Opportunity',
          externalIdField: 'External_ID__c',
          mapping: { ExternalId__c: 'External_ID__c', Name__c: 'Name', StageName__c: 'StageName', Amount__c: 'Amount', AccountExternalId__c: 'Account.External_ID__c' },
        },
        pacing: { partitions: 2, rowsPerJob: 4_000, pollSeconds: [0.05, 0.3], retryDelaysSeconds: [0.1, 0.2], ...pacing },
      })
    );
    return file;
  }
  const start = (def: string): Promise<Awaited<ReturnType<typeof runPlugin>>> => runPlugin(['datacloud', 'load', 'start', '--target-org', 'emu', '--definition', def, '--json'], org);
  const resume = (runId: string): Promise<Awaited<ReturnType<typeof runPlugin>>> => runPlugin(['datacloud', 'load', 'resume', '--target-org', 'emu', '--run-id', runId, '--json'], org);

  before(async () => {
    emu = await startEmulator({ timeScale: 200, ...datasetConfig(ds) });
    org = await loginToEmulator(emu);
  });
  after(async () => emu?.close());
  beforeEach(() => {
    emu.target.clear();
    emu.configure({ bulk: { rowRules: [], jobFailures: [] } });
    delete emu.config.auth.sessionExpiresAfter; // configure() skips undefined values
  });

  it('Ctrl-C stops cleanly (exit 3, says how to resume); resume finishes the load', async () => {
    const child = spawnPlugin(['datacloud', 'load', 'start', '--target-org', 'emu', '--definition', definition('ctrlc', { rowsPerJob: 1_000 }), '--json'], org);
    let stdout = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    const runId = await until(() => RunDir.list(org.runsDir).at(-1));
    const run = new RunDir(join(org.runsDir, runId), runId);
    await until(() => (jobLog(run).some((x) => x.t === 'result') ? true : undefined));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.once('close', r));
    expect(code).to.equal(3);
    const out = JSON.parse(stdout);
    expect(out.result.state).to.equal('stopped');
    expect(out.result.next).to.equal(`sf datacloud load resume -o emu --run-id ${runId}`);
    expect(out.result.totals.loaded).to.be.lessThan(total);
    expect(run.readManifest().state).to.equal('stopped');

    const res = await resume(runId);
    expect(res.code, res.stderr.slice(-2000)).to.equal(0);
    expect(res.json.result.totals.loaded).to.equal(total);
    expect(emu.target.summary('Opportunity').rows).to.equal(total);
  });

  it('retry-failures with the rule lifted brings the run to 100 %; a second run changes nothing', async () => {
    emu.configure({
      bulk: {
        rowRules: [
          { name: 'v', code: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: 'Amount is too high', fields: ['Amount'], rate: 0.02 },
          { name: 'quote', code: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: 'Name has a quote', match: { field: 'External_ID__c', regex: "'" } },
        ],
      },
    });
    const first = await start(definition('retry'));
    expect(first.code, first.stderr.slice(-2000)).to.equal(2);
    const runId = first.json.result.runId;
    const failed = first.json.result.totals.failed;
    expect(failed).to.be.greaterThan(100);
    expect(first.json.result.next).to.equal(`sf datacloud load retry-failures -o emu --run-id ${runId}`);
    expect(emu.target.get('Opportunity', "externalOpp'O''Brien\"")).to.equal(undefined);

    emu.configure({ bulk: { rowRules: [] } });
    const again = await runPlugin(['datacloud', 'load', 'retry-failures', '--target-org', 'emu', '--run-id', runId, '--json'], org);
    expect(again.code, again.stderr.slice(-2000)).to.equal(0);
    expect(startSchema(again.json.result), JSON.stringify(startSchema.errors)).to.equal(true);
    expect(again.json.result.selected).to.equal(failed);
    expect(again.json.result.totals.loaded).to.equal(total);
    expect(again.json.result.totals.failed).to.equal(0);
    expect(again.json.result.next).to.equal(undefined); // nothing left to do
    expect(emu.target.summary('Opportunity').rows).to.equal(total);
    expect(emu.target.get('Opportunity', "externalOpp'O''Brien\"")).to.not.equal(undefined);

    const writes = emu.target.summary('Opportunity').writes;
    const third = await runPlugin(['datacloud', 'load', 'retry-failures', '--target-org', 'emu', '--run-id', runId, '--json'], org);
    expect(third.code).to.equal(0);
    expect(third.json.result.selected).to.equal(0);
    expect(third.json.result.totals.loaded).to.equal(total);
    expect(emu.target.summary('Opportunity').writes).to.equal(writes);
  });

  it('retry-failures --error-code --use-stored-rows retries only those rows, from the failure file', async () => {
    emu.configure({
      bulk: {
        rowRules: [
          { name: 'a', code: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: 'A', rate: 0.01 },
          { name: 'b', code: 'DUPLICATE_VALUE', message: 'duplicate value found: Name duplicates value on record with id: 006000000000001', rate: 0.01 },
        ],
      },
    });
    const first = await start(definition('codes'));
    const runId = first.json.result.runId;
    const dupes = failedNow(new RunDir(join(org.runsDir, runId), runId)).filter((f) => f.code === 'DUPLICATE_VALUE').length;
    emu.configure({ bulk: { rowRules: [] } });
    const res = await runPlugin(['datacloud', 'load', 'retry-failures', '--target-org', 'emu', '--run-id', runId, '--error-code', 'DUPLICATE_VALUE', '--use-stored-rows', '--json'], org);
    expect(res.code).to.equal(2);
    expect(res.json.result.selected).to.equal(dupes);
    expect(res.json.result.totals.failed).to.equal(first.json.result.totals.failed - dupes);
  });

  it('a job that fails at job level for a permanent reason: its rows fail with the job error and the run goes on (exit 2); retry-failures loads them once fixed', async () => {
    // Changed on purpose (v2 retry policy): a permanent job error no longer stops the run; only
    // the circuit breaker stops a run whose jobs fail in a row.
    const jobs = emu.bulk.inspectJobs().length;
    emu.configure({ bulk: { jobFailures: [{ jobNumbers: [jobs + 2], errorMessage: 'InvalidBatch : Field name not found : Amount' }] } });
    const res = await start(definition('joblevel'));
    expect(res.code, res.stderr.slice(-2000)).to.equal(2);
    const r = res.json.result;
    expect(startSchema(r), JSON.stringify(startSchema.errors)).to.equal(true);
    expect(r.state).to.equal('completed');
    expect(r.error).to.equal(undefined);
    const run = new RunDir(r.runDir, r.runId);
    const failedJobs = jobLog(run).filter((x): x is Extract<JobLogRecord, { t: 'result' }> => x.t === 'result' && x.state === 'Failed');
    expect(failedJobs).to.have.length(1);
    const rows = failedJobs[0].rows; // that one job's rows, all failed for good
    expect(rows).to.be.within(1, 4_000);
    expect(failedJobs[0]).to.include({ failed: rows, succeeded: 0, requeued: 0 });
    expect(r.totals.failed).to.equal(rows);
    expect(r.totals.loaded).to.equal(total - rows);
    expect(r.next).to.equal(`sf datacloud load retry-failures -o emu --run-id ${r.runId}`);
    const failures = failedNow(run);
    expect(failures).to.have.length(rows);
    for (const f of failures) {
      expect(f.code).to.equal('InvalidBatch');
      expect(f.message).to.match(/InvalidBatch : Field name not found : Amount/);
    }
    expect(emu.target.summary('Opportunity').rows).to.equal(total - rows);

    emu.configure({ bulk: { jobFailures: [] } });
    const again = await runPlugin(['datacloud', 'load', 'retry-failures', '-o', 'emu', '--run-id', r.runId, '--json'], org);
    expect(again.code, again.stderr.slice(-2000)).to.equal(0);
    expect(again.json.result.selected).to.equal(rows);
    expect(again.json.result.totals.loaded).to.equal(total);
    expect(emu.target.summary('Opportunity').rows).to.equal(total);
  });

  it('a job the org stops for an exhausted allocation stops the run (exit 3) with the reason, keeps its rows, and resume finishes', async () => {
    const jobs = emu.bulk.inspectJobs().length;
    emu.configure({ bulk: { jobFailures: [{ jobNumbers: [jobs + 2], errorMessage: 'ExceededQuota : The daily batch allocation (DailyBulkApiBatches) is exhausted.' }] } });
    const res = await start(definition('quota'));
    expect(res.code, res.stderr.slice(-2000)).to.equal(3);
    const r = res.json.result;
    expect(startSchema(r), JSON.stringify(startSchema.errors)).to.equal(true);
    expect(r.state).to.equal('stopped'); // stopped for limits (resumable), not failed
    expect(r.error.name).to.equal('LimitsExhaustedError');
    expect(r.error.message).to.match(/ExceededQuota/);
    expect(r.error.actions.join(' ')).to.match(/resume/);
    expect(r.next).to.equal(`sf datacloud load resume -o emu --run-id ${r.runId}`);
    expect(r.totals.failed).to.equal(0); // the stopped job's rows are kept, not failed
    expect(r.totals.loaded).to.be.lessThan(total);
    emu.configure({ bulk: { jobFailures: [] } });
    const done = await resume(r.runId);
    expect(done.code, done.stderr.slice(-2000)).to.equal(0);
    expect(done.json.result.totals.loaded).to.equal(total);
    expect(emu.target.summary('Opportunity').rows).to.equal(total);
  });

  it('a job that fails at job level for a transient reason: its rows go into a retry job and load (exit 0)', async () => {
    const jobs = emu.bulk.inspectJobs().length;
    emu.configure({ bulk: { jobFailures: [{ jobNumbers: [jobs + 2], errorMessage: 'InternalServerError : Retry the job later' }] } });
    const res = await start(definition('transientjob'));
    expect(res.code, res.stderr.slice(-2000)).to.equal(0);
    const r = res.json.result;
    expect(r.totals.loaded).to.equal(total);
    expect(r.totals.failed).to.equal(0);
    const log = jobLog(new RunDir(r.runDir, r.runId));
    const failedJobs = log.filter((x): x is Extract<JobLogRecord, { t: 'result' }> => x.t === 'result' && x.state === 'Failed');
    expect(failedJobs).to.have.length(1);
    const j = failedJobs[0];
    expect(j).to.include({ requeued: j.rows, failed: 0, succeeded: 0 });
    expect(r.totals.retriedRows).to.equal(j.rows);
    const retry = log.find((x) => x.t === 'planned' && x.seq === j.retrySeq);
    expect(retry).to.include({ kind: 'retry', retryOf: j.seq, rows: j.rows });
    expect(log.some((x) => x.t === 'result' && x.seq === j.retrySeq && x.state === 'JobComplete' && x.succeeded === j.rows)).to.equal(true);
    expect(emu.target.summary('Opportunity').rows).to.equal(total);
  });

  it('the circuit breaker stops a run whose every row fails for the same reason', async () => {
    emu.configure({ bulk: { rowRules: [{ name: 'req', code: 'REQUIRED_FIELD_MISSING', message: 'Required fields are missing: [CloseDate]', fields: ['CloseDate'], rate: 1 }] } });
    const res = await start(definition('breaker', { rowsPerJob: 500, partitions: 1 }));
    expect(res.code).to.equal(3);
    expect(res.json.result.error.name).to.equal('CircuitBreakerOpenError');
    expect(res.json.result.error.message).to.match(/REQUIRED_FIELD_MISSING/);
    expect(res.json.result.jobs.total).to.be.at.most(4);
    expect(res.json.result.next).to.equal(`sf datacloud load resume -o emu --run-id ${res.json.result.runId}`);
  });

  it('an expired session stops the run with a login action; resume after login finishes it', async () => {
    // Expire the session once the run has created its first job (not during planning).
    const child = spawnPlugin(['datacloud', 'load', 'start', '--target-org', 'emu', '--definition', definition('session', { rowsPerJob: 1_000 }), '--json'], org);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((r) => child.once('close', r));
    const before = new Set(RunDir.list(org.runsDir));
    const runId = await until(() => RunDir.list(org.runsDir).find((id) => !before.has(id)));
    const run = new RunDir(join(org.runsDir, runId), runId);
    await until(() => (jobLog(run).some((x) => x.t === 'created') ? true : undefined));
    emu.configure({ auth: { sessionExpiresAfter: emu.authenticatedCalls + 5 } });
    const code = await closed;
    expect(stdout, `exit ${code}: ${stderr.slice(-3000)}`).to.match(/^\{/);
    const res = { code, stdout, stderr, json: JSON.parse(stdout) };
    expect(res.code, stderr.slice(-2000)).to.equal(3);
    expect(res.json.result.error.name).to.equal('SessionExpiredError');
    expect(res.json.result.error.actions.join(' ')).to.match(/sf org login/);
    expect(res.json.result.next).to.equal(`sf datacloud load resume -o emu --run-id ${res.json.result.runId}`);
    expect(res.stdout + res.stderr).to.not.contain(emu.token);
    delete emu.config.auth.sessionExpiresAfter; // "log in again"
    emu.authenticatedCalls = 0;
    const done = await resume(res.json.result.runId);
    expect(done.code, done.stderr.slice(-2000)).to.equal(0);
    expect(done.json.result.totals.loaded).to.equal(total);
    expect(emu.target.summary('Opportunity').rows).to.equal(total);
  });
});

async function until<T>(fn: () => T | undefined, timeoutMs = 120_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    let v: T | undefined;
    try {
      v = fn();
    } catch {
      v = undefined;
    }
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
