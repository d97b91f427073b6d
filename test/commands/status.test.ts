/*
 * sf datacloud load status (run files schema version 2): the fold of a run directory
 * (summarizeRun) on runs written through the RunDir API in the engine's order
 * (test/helpers/runs.ts), and the command as a user runs it (`node bin/run.js … --json`):
 * every JSON result checked against schemas/status.json, its exit codes (0 ok, 2 partial,
 * 3 needs resume, 4 in progress, 1 error) and its hints, runnable as printed.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { summarizeRun } from '../../src/ledger/status.js';
import { CorruptStatusFileError, readNdjson } from '../../src/state/files.js';
import { RunDir } from '../../src/state/run-dir.js';
import type { JobLogRecord } from '../../src/state/types.js';
import { RunFixture, ROOT, cli, deadPid, shellWords, spawnCli, standInRunner, type Cli } from '../helpers/runs.js';
import { startEmulator, type Emulator } from '../emulator/server.js';
import { datasetConfig, generateDataset, opportunityDefinition } from '../emulator/dataset.js';
import { loginToEmulator, runPlugin, spawnPlugin, type OrgHome } from '../helpers/plugin.js';

const ajv = new Ajv({ allErrors: true, strict: false });
const statusSchema = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'schemas/status.json'), 'utf8')));
const startSchema = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'schemas/start.json'), 'utf8')));
const T0 = Date.parse('2026-01-05T09:00:00.000Z');
const ORG = 'test@example.com';

function tmpRoot(): string {
  return mkdtempSync(join(tmpdir(), 'dcl-status-'));
}

function valid(s: unknown): void {
  expect(statusSchema(s), JSON.stringify(statusSchema.errors, null, 1)).to.equal(true);
}

/** `status --json`: the result matches the schema, its exit code is the process's, resume/retry hints carry -o and --run-id. */
async function status(root: string, ...args: string[]): Promise<Cli> {
  const res = await cli(['datacloud', 'load', 'status', '--json', '--runs-dir', root, ...args]);
  const r = res.json?.result;
  if (r) {
    valid(r);
    expect(res.code, res.stderr).to.equal(r.health.exitCode);
    expect(res.json.status).to.equal(r.health.exitCode);
    const next: string | null = r.health.next;
    if (next && /^sf datacloud load (resume|retry-failures) /.test(next)) {
      const argv = shellWords(next);
      expect(argv[argv.indexOf('-o') + 1], next).to.equal(r.org.alias ?? r.org.username);
      expect(argv[argv.indexOf('--run-id') + 1], next).to.equal(r.runId);
      expect(argv[argv.indexOf('--runs-dir') + 1], next).to.equal(root);
    }
  }
  return res;
}

/** 2 partitions × 2,000 rows, all loaded in 4 jobs over 100 s. */
function cleanRun(root: string, runId = 'run-clean'): RunFixture {
  const f = new RunFixture(root, { runId, partitionRows: [2000, 2000], start: T0 });
  f.session('start', 0);
  f.job({ partition: 0, rows: 1000, at: 20 });
  f.job({ partition: 1, rows: 1000, at: 30 });
  f.job({ partition: 0, rows: 1000, at: 60, last: true });
  f.job({ partition: 1, rows: 1000, at: 90, last: true });
  return f.end(100, 'completed', { recount: 4000 }).close();
}

const KEYS = Array.from({ length: 10 }, (_, i) => `opp-${i}`);

/** 1 partition × 2,000 rows: lock errors retried (40 + 20 rows, each in a retry job), 10 validation failures (99.5%). */
function partialRun(root: string, runId = 'run-partial'): RunFixture {
  const f = new RunFixture(root, { runId, name: 'partial', partitionRows: [2000], start: T0 });
  f.session('start', 0);
  f.job({ partition: 0, rows: 1000, at: 30, requeued: 40, failures: { FIELD_CUSTOM_VALIDATION_EXCEPTION: KEYS.slice(0, 6) } });
  f.job({ partition: 0, rows: 1000, at: 60, requeued: 20, failures: { FIELD_CUSTOM_VALIDATION_EXCEPTION: KEYS.slice(6) }, last: true });
  return f.end(300, 'completed', { recount: 2000 }).close();
}

/**
 * 2 partitions × 5,000 rows: 40 rows fail validation, and 30 keys are held by 3 rows each
 * (60 extra copies rejected at read time as DUPLICATE_SOURCE_KEY): 9,900 loaded, 99.00%.
 */
function duplicatesRun(root: string, runId = 'run-dups'): RunFixture {
  const dupKeys = Array.from({ length: 30 }, (_, i) => `dup-${i}`);
  const f = new RunFixture(root, { runId, partitionRows: [5000, 5000], start: T0, duplicates: { keys: 30, extraRows: 60, examples: dupKeys.slice(0, 10) } });
  f.session('start', 0);
  for (const partition of [0, 1]) {
    f.reject({ partition, at: 5 + partition, rejects: { DUPLICATE_SOURCE_KEY: dupKeys } });
    for (let i = 0; i < 5; i++) {
      const failures = partition === 0 && i === 0 ? { FIELD_CUSTOM_VALIDATION_EXCEPTION: Array.from({ length: 40 }, (_, k) => `bad-${k}`) } : undefined;
      f.job({ partition, rows: i < 4 ? 1000 : 970, at: 20 + i * 20 + partition, ...(failures ? { failures } : {}), last: i === 4 });
    }
  }
  return f.end(200, 'completed', { recount: 10_000 }).close();
}

describe('status: summarizeRun (the fold of a run directory)', () => {
  it('a clean completed run: counts, jobs, partitions, timing, settings, files', () => {
    const f = cleanRun(tmpRoot());
    const s = summarizeRun(f.run, { now: T0 + 500_000 });
    valid(s);
    expect(s.schemaVersion).to.equal(2);
    expect(s.state).to.equal('completed');
    expect(s.health).to.include({ verdict: 'ok', exitCode: 0, next: null });
    expect(s.totals).to.deep.equal({
      sourceRows: 4000, read: 4000, unread: 0, loaded: 4000, created: 2000, updated: 2000, failed: 0, pending: 0, retriedRows: 0, lockErrors: 0, successRate: 1, firstPassSuccessRate: 1,
    });
    expect(s.jobs).to.deep.equal({ total: 4, orgJobs: 4, completed: 4, inFlight: 0, queued: 0, failedJobs: 0, retryJobs: 0 });
    expect(s.apiCalls).to.equal(24);
    expect(s.partitions.map((p) => [p.index, p.state, p.read, p.loaded, p.jobs])).to.deep.equal([
      [0, 'done', 2000, 2000, 2],
      [1, 'done', 2000, 2000, 2],
    ]);
    expect(s.problems).to.deep.equal([]);
    expect(s.timing).to.include({ elapsedSeconds: 100, rowsPerSecond: 40, etaSeconds: null, recentRowsPerSecond: null, endedAt: f.iso(100) });
    expect(s.settings).to.include({ profile: 'default', strategy: 'adaptive', rowsPerJob: 1000, plannedPartitions: 2, maxAttempts: 4 });
    expect(s.files.jobLog).to.equal(f.run.jobLogFile);
    expect(s.files.lock).to.equal(f.run.lockFile);
    expect(JSON.stringify(s)).not.to.match(/token|00D[A-Za-z0-9]{12}![A-Za-z0-9]/i);
  });

  it('a partial run: failed rows, retried rows in retry jobs, first-pass rate, failures by code with sample keys, thresholds', () => {
    const f = partialRun(tmpRoot());
    const s = summarizeRun(f.run);
    valid(s);
    expect(s.totals).to.include({ sourceRows: 2000, read: 2000, loaded: 1990, failed: 10, pending: 0, retriedRows: 60, lockErrors: 60, successRate: 0.995 });
    expect(s.totals.firstPassSuccessRate).to.equal((2000 - 60 - 10) / 2000);
    expect(s.jobs).to.include({ total: 4, retryJobs: 2, completed: 4, inFlight: 0, queued: 0 });
    expect(s.failuresByCode).to.deep.equal({
      FIELD_CUSTOM_VALIDATION_EXCEPTION: {
        count: 10, sampleKeys: ['opp-0', 'opp-1', 'opp-2', 'opp-6', 'opp-7'], message: 'FIELD_CUSTOM_VALIDATION_EXCEPTION message', transient: false, retryable: true,
      },
    });
    expect(s.health).to.include({ verdict: 'partial', exitCode: 2, minSuccessRate: 100 });
    expect(shellWords(s.health.next!)).to.include.members(['retry-failures', '-o', ORG, '--run-id', 'run-partial']);
    expect(summarizeRun(f.run, { minSuccessRate: 99.5 }).health).to.include({ verdict: 'ok', exitCode: 0 });
    expect(summarizeRun(f.run, { minSuccessRate: 99.6 }).health).to.include({ verdict: 'partial', exitCode: 2 });
  });

  it('retry-failures: recovered rows leave failed (a `loaded` line supersedes each failure), rows failing again count once', () => {
    const f = partialRun(tmpRoot());
    f.session('retry-failures', 400);
    f.failuresRetry({ at: 410, recover: KEYS.slice(0, 4), failAgain: { FIELD_CUSTOM_VALIDATION_EXCEPTION: KEYS.slice(4) } });
    f.end(420, 'completed').close();
    const s = summarizeRun(f.run);
    valid(s);
    expect(s.totals).to.include({ loaded: 1994, failed: 6, pending: 0, read: 2000 });
    expect(s.failuresByCode.FIELD_CUSTOM_VALIDATION_EXCEPTION.count).to.equal(6);
    expect(s.timing.sessions.map((x) => x.command)).to.deep.equal(['start', 'retry-failures']);
    expect(s.timing.elapsedSeconds).to.equal(320);
    expect(f.failureLog().filter((r) => r.status === 'loaded').map((r) => r.fid)).to.deep.equal(['1.0', '1.1', '1.2', '1.3']);
  });

  it('retry-failures: the sample keys of a code are rows that still fail with it (not the recovered ones)', () => {
    const f = partialRun(tmpRoot());
    f.session('retry-failures', 400);
    f.failuresRetry({ at: 410, recover: KEYS.slice(0, 4) });
    f.end(420, 'completed').close();
    const g = summarizeRun(f.run).failuresByCode.FIELD_CUSTOM_VALIDATION_EXCEPTION;
    expect(g.count).to.equal(6);
    for (const k of KEYS.slice(0, 4)) expect(g.sampleKeys, `${k} loaded in the retry`).not.to.include(k);
  });

  it('a second result for one seq is reported as a problem and counted once', () => {
    const f = cleanRun(tmpRoot());
    const dup = f.jobLog().filter((r) => r.t === 'result').at(-1)!;
    f.run.appendJobLog(dup);
    f.close();
    const s = summarizeRun(f.run);
    expect(s.totals.loaded).to.equal(4000);
    expect(s.problems.join('\n')).to.match(/job \d+ has two results/);
  });

  it('a running run with a live runner: in flight, queued, read vs planned, ETA, concurrency; an org job created again after an abort counted once', () => {
    const now = Date.now();
    const f = new RunFixture(tmpRoot(), { runId: 'run-live', partitionRows: [3000, 3000], start: now - 120_000 });
    f.session('start', 0);
    f.job({ partition: 0, rows: 1000, at: 60 });
    f.job({ partition: 1, rows: 1000, at: 100 });
    const open = f.job({ partition: 0, rows: 1000, at: 118, stopAfter: 'closed' });
    f.aborted(open, 118.5, 'resume');
    f.run.appendJobLog({ t: 'created', at: f.iso(119), seq: open, jobId: '750AAA000000000099' });
    f.job({ partition: 1, rows: 1000, at: 119, stopAfter: 'created' });
    f.job({ partition: 1, rows: 1000, at: 119, stopAfter: 'planned' });
    f.lock({ pid: process.pid, heartbeatAt: now, concurrency: { limit: 8, inFlight: 2 } });
    f.close();
    const s = summarizeRun(f.run, { now });
    valid(s);
    expect(s.state).to.equal('running');
    expect(s.runnerAlive).to.equal(true);
    expect(s.runner).to.include({ pid: process.pid, command: 'start' });
    expect(s.concurrency).to.deep.equal({ limit: 8, inFlight: 2 });
    expect(s.health).to.include({ verdict: 'in-progress', exitCode: 4 });
    expect(s.totals).to.include({ sourceRows: 6000, read: 5000, unread: 1000, loaded: 2000, pending: 3000 });
    expect(s.jobs).to.deep.equal({ total: 4, orgJobs: 5, completed: 2, inFlight: 2, queued: 1, failedJobs: 0, retryJobs: 0 });
    expect(s.partitions.map((p) => [p.read, p.inFlight, p.state])).to.deep.equal([
      [2000, 1, 'running'],
      [3000, 1, 'running'],
    ]);
    expect(s.timing.elapsedSeconds).to.be.closeTo(120, 1);
    expect(s.timing.recentRowsPerSecond).to.be.closeTo(2000 / 120, 0.2);
    expect(s.timing.etaSeconds).to.be.closeTo(4000 / (2000 / 120), 3);
  });

  it('state running with a dead runner is crashed (needs resume, exit 3); elapsed stops at the last heartbeat', async () => {
    const f = new RunFixture(tmpRoot(), { runId: 'run-crashed', partitionRows: [3000], start: T0 });
    f.session('start', 0);
    f.job({ partition: 0, rows: 1000, at: 50 });
    f.job({ partition: 0, rows: 1000, at: 70, stopAfter: 'closed' });
    f.lock({ pid: await deadPid(), atS: 75 });
    f.close();
    const s = summarizeRun(f.run);
    valid(s);
    expect(s.state).to.equal('crashed');
    expect(s.recordedState).to.equal('running');
    expect(s.runnerAlive).to.equal(false);
    expect(s.concurrency).to.equal(null);
    expect(s.health).to.include({ verdict: 'needs-resume', exitCode: 3 });
    expect(shellWords(s.health.next!)).to.include.members(['resume', '-o', ORG, '--run-id', 'run-crashed']);
    expect(s.timing.elapsedSeconds).to.equal(75);
    expect(s.timing.etaSeconds).to.equal(null);
    expect(s.jobs.inFlight).to.equal(1);
  });

  it('hints name the org by its alias, quoted for the shell when it needs it', () => {
    const f = new RunFixture(tmpRoot(), { runId: 'run-alias', partitionRows: [100], start: T0, org: { alias: "prod's org" } });
    f.session('start', 0, 10, 'stopped').close();
    const s = summarizeRun(f.run);
    valid(s);
    expect(s.org.alias).to.equal("prod's org");
    const argv = shellWords(s.health.next!);
    expect(argv.slice(0, 7)).to.deep.equal(['sf', 'datacloud', 'load', 'resume', '-o', "prod's org", '--run-id']);
  });

  it('planned, stopped, failed and cancelled runs need resume (exit 3)', () => {
    const planned = new RunFixture(tmpRoot(), { runId: 'run-planned', partitionRows: [100], start: T0 }).close();
    expect(summarizeRun(planned.run).health).to.include({ verdict: 'needs-resume', exitCode: 3 });
    for (const state of ['stopped', 'failed', 'cancelled'] as const) {
      const f = new RunFixture(tmpRoot(), { runId: `run-${state}`, partitionRows: [100], start: T0 });
      f.session('start', 0, 10, state).close();
      const s = summarizeRun(f.run);
      valid(s);
      expect(s.state).to.equal(state);
      expect(s.health).to.include({ verdict: 'needs-resume', exitCode: 3 });
    }
  });

  it('duplicate keys found while reading count even when the plan found none', () => {
    const root = tmpRoot();
    const f = new RunFixture(root, { runId: 'run-late-dups', partitionRows: [1000], start: T0 });
    f.session('start', 0);
    f.reject({ partition: 0, at: 1, rejects: { DUPLICATE_SOURCE_KEY: ['x-1', 'x-2'] } });
    f.job({ partition: 0, rows: 998, at: 10, last: true });
    f.end(20, 'completed').close();
    const s = summarizeRun(f.run);
    valid(s);
    expect(s.duplicates).to.deep.equal({ keys: 0, extraRows: 2, examples: [] });
    expect(s.totals).to.include({ failed: 2, loaded: 998 });
    expect(s.jobs.total).to.equal(1);
  });

  it('ignores a torn last line (a crash mid-append) in jobs.ndjson', () => {
    const f = cleanRun(tmpRoot());
    f.tearJobLog();
    const s = summarizeRun(f.run);
    expect(s.totals.loaded).to.equal(4000);
    expect(s.problems).to.deep.equal([]);
  });

  it('a damaged line in the middle of jobs.ndjson is a CorruptStatusFileError naming the file and line', () => {
    const f = cleanRun(tmpRoot());
    const lines = readFileSync(f.run.jobLogFile, 'utf8').split('\n');
    lines[4] = lines[4].slice(0, 20);
    writeFileSync(f.run.jobLogFile, lines.join('\n'));
    expect(() => summarizeRun(f.run)).to.throw(CorruptStatusFileError, /jobs\.ndjson: line 5 is not valid JSON/);
  });

  it('folds 28,000 job-log lines of 4,000 jobs to the right totals', () => {
    const f = new RunFixture(tmpRoot(), { runId: 'run-big', partitionRows: [2_500_000, 2_500_000], start: T0 });
    f.session('start', 0);
    const recs: JobLogRecord[] = [];
    for (let seq = 1; seq <= 4000; seq++) {
      const partition = seq % 2;
      const at = f.iso(seq);
      const jobId = `750${String(seq).padStart(15, '0')}`;
      recs.push(
        { t: 'planned', at, seq, kind: 'load', partition, rows: 500, freshRows: 500, attempt: 1 },
        { t: 'intent', at, seq },
        { t: 'created', at, seq, jobId },
        { t: 'uploaded', at, seq, jobId, bytes: 1 },
        { t: 'closed', at, seq, jobId },
        {
          t: 'result', at, seq, jobId, kind: 'load', partition, state: 'JobComplete', rows: 500, succeeded: 499, created: 499, updated: 0, failed: 1, requeued: 0,
          lockErrors: 0, transientErrors: 0, recovered: 0, errorCodes: { X: 1 }, batch: `b${seq}`, apiCalls: 6, seconds: 1,
        },
        { t: 'deleted', at, seq, jobId }
      );
    }
    f.run.appendJobLog(...recs);
    f.close();
    const s = summarizeRun(f.run);
    expect(s.totals).to.include({ read: 2_000_000, loaded: 4000 * 499, failed: 4000, pending: 0, unread: 3_000_000 });
    expect(s.jobs.total).to.equal(4000);
    expect(s.failuresByCode.X.count).to.equal(4000);
    expect(s.problems).to.deep.equal([]);
  });
});

describe('status: the command (node bin/run.js datacloud load status)', function () {
  this.timeout(300_000);

  it('completed clean → exit 0, JSON matches the schema; human output says every row loaded', async () => {
    const root = tmpRoot();
    cleanRun(root);
    const [res, human] = await Promise.all([status(root), cli(['datacloud', 'load', 'status', '--runs-dir', root])]);
    expect(res.code, res.stderr).to.equal(0);
    expect(res.json.result.runId).to.equal('run-clean');
    expect(res.json.result.health.next).to.equal(null);
    expect(human.code).to.equal(0);
    expect(human.stdout).to.match(/Partitions 2 of 2 done/).and.match(/Loaded\s+4,000 of 4,000 source rows \(100\.00%\)/).and.match(/every source row loaded/);
  });

  it('a partial run → exit 2, the partition table and the failures by code; next is retry-failures with -o and --run-id', async () => {
    const root = tmpRoot();
    partialRun(root);
    const [res, human] = await Promise.all([status(root), cli(['datacloud', 'load', 'status', '--runs-dir', root])]);
    expect(res.code).to.equal(2);
    expect(res.json.result.health.verdict).to.equal('partial');
    expect(human.code).to.equal(2);
    expect(human.stdout).to.match(/Partition/).and.match(/FIELD_CUSTOM_VALIDATION_EXCEPTION\s+10\s+e\.g\. opp-0/);
    expect(human.stdout).to.include(`Next: sf datacloud load retry-failures -o ${ORG} --run-id run-partial --runs-dir ${root}`);
  });

  describe('--min-success-rate is computed over source rows', () => {
    const root = tmpRoot();
    before(() => duplicatesRun(root));

    it('9,900 of 10,000 source rows loaded (40 failed, 60 duplicate copies): below the default threshold → exit 2', async () => {
      const res = await status(root);
      expect(res.code).to.equal(2);
      const s = res.json.result;
      expect(s.totals).to.include({ sourceRows: 10_000, read: 10_000, loaded: 9900, failed: 100, pending: 0, successRate: 0.99 });
      expect(s.health.message).to.include('9,900 of 10,000 source rows loaded (99.00%); 100 failed').and.include('Below the 100% threshold');
    });

    it('at the threshold → exit 0 (and still names retry-failures for the failed rows); just above it → exit 2', async () => {
      const [at, above] = await Promise.all([status(root, '--min-success-rate', '99'), status(root, '--min-success-rate', '99.01')]);
      expect(at.code).to.equal(0);
      expect(at.json.result.health).to.include({ verdict: 'ok', minSuccessRate: 99 });
      expect(at.json.result.health.message).to.include('meets the 99% threshold');
      expect(at.json.result.health.next).to.match(/^sf datacloud load retry-failures /);
      expect(above.code).to.equal(2);
      expect(above.json.result.health.minSuccessRate).to.equal(99.01);
    });

    it('duplicates count as failed: 99.5% is not met although 9,900 of the 9,940 distinct keys loaded', async () => {
      const res = await status(root, '--min-success-rate', '99.5');
      expect(res.code).to.equal(2);
      expect(res.json.result.health.verdict).to.equal('partial');
    });

    it('a threshold outside 0..100 is a usage error (exit 1)', async () => {
      const bad = await status(root, '--min-success-rate', '120');
      expect(bad.code).to.equal(1);
      expect(bad.json.message).to.include('120');
    });
  });

  it('duplicate keys are reported: in totals.failed, failuresByCode (not retryable) and duplicates', async () => {
    const root = tmpRoot();
    duplicatesRun(root);
    const [res, human] = await Promise.all([status(root), cli(['datacloud', 'load', 'status', '--runs-dir', root])]);
    const s = res.json.result;
    expect(s.totals.failed).to.equal(100);
    expect(s.failuresByCode.DUPLICATE_SOURCE_KEY).to.include({ count: 60, retryable: false, transient: false });
    expect(s.failuresByCode.DUPLICATE_SOURCE_KEY.sampleKeys).to.include('dup-0');
    expect(s.failuresByCode.FIELD_CUSTOM_VALIDATION_EXCEPTION).to.include({ count: 40, retryable: true });
    expect(s.duplicates).to.deep.equal({ keys: 30, extraRows: 60, examples: Array.from({ length: 10 }, (_, i) => `dup-${i}`) });
    expect(human.stdout).to.match(/Duplicates 30 keys held by several rows \(60 extra rows\), e\.g\. dup-0, dup-1, dup-2/);
    expect(human.stdout).to.match(/DUPLICATE_SOURCE_KEY\s+60\s+e\.g\. dup-0.*\(not retryable\)/);
  });

  describe('pending rows never pass the gate', () => {
    it('recorded completed with a job in flight: exit 1 RunFilesDisagreeError naming the problem, its counts and the resume command', async () => {
      const root = tmpRoot();
      const f = new RunFixture(root, { runId: 'run-pending', partitionRows: [1000, 1000], start: T0 });
      f.session('start', 0);
      f.job({ partition: 0, rows: 1000, at: 20, last: true });
      f.job({ partition: 1, rows: 1000, at: 30, last: true, stopAfter: 'closed' });
      f.end(40, 'completed', { recount: 2000 }).close();
      const [res, lenient, human] = await Promise.all([status(root), status(root, '--min-success-rate', '0'), cli(['datacloud', 'load', 'status', '--runs-dir', root])]);
      expect(res.code).to.equal(1);
      expect(res.json.name).to.equal('RunFilesDisagreeError');
      expect(res.json.message).to.include('run-pending').and.include('run.json says completed').and.include('2,000 rows read with 1,000 pending');
      expect(res.json.actions.join('\n')).to.include(`sf datacloud load resume -o ${ORG} --run-id run-pending --runs-dir ${root}`);
      expect(res.json.data.totals).to.include({ read: 2000, loaded: 1000, pending: 1000 });
      expect(res.json.data.problems).to.have.length.greaterThan(0);
      expect(lenient.code, 'a threshold of 0 does not let pending rows pass').to.equal(1);
      expect(human.code).to.equal(1);
      expect(human.stdout + human.stderr).not.to.match(/every source row loaded/);
      expect(human.stderr).to.include('1,000 pending').and.include('sf datacloud load resume');
    });

    it('recorded completed with a retry job never run: exit 1, the 50 requeued rows are pending', async () => {
      const root = tmpRoot();
      const f = new RunFixture(root, { runId: 'run-retry-pending', partitionRows: [1000], start: T0 });
      f.session('start', 0);
      f.job({ partition: 0, rows: 1000, at: 20, requeued: 50, retryOutcome: 'pending', last: true });
      f.end(40, 'completed').close();
      const res = await status(root);
      expect(res.code).to.equal(1);
      expect(res.json.name).to.equal('RunFilesDisagreeError');
      expect(res.json.message).to.include('1,000 rows read with 50 pending');
      expect(res.json.data.totals).to.include({ loaded: 950, pending: 50 });
    });
  });

  describe('a truncated jobs.ndjson', () => {
    const base = tmpRoot();
    let lines: string[] = [];
    /** A completed run of 200,000 rows: 2 partitions × 10 jobs of 10,000, every row loaded. */
    before(() => {
      const f = new RunFixture(base, { runId: 'run-big', partitionRows: [100_000, 100_000], start: T0, pacing: { rowsPerJob: 10_000 } });
      f.session('start', 0);
      for (let i = 0; i < 10; i++) for (const partition of [0, 1]) f.job({ partition, rows: 10_000, at: 30 + i * 30 + partition, last: i === 9 });
      f.end(400, 'completed', { recount: 200_000 }).close();
      lines = readFileSync(f.run.jobLogFile, 'utf8').split('\n').filter(Boolean);
    });

    /** A copy of the run with its log cut after `keep` lines (plus `tail`, a torn part of the next one). */
    function cut(keep: number, tail = ''): string {
      const root = tmpRoot();
      cpSync(join(base, 'run-big'), join(root, 'run-big'), { recursive: true });
      writeFileSync(join(root, 'run-big', 'jobs.ndjson'), lines.slice(0, keep).map((l) => `${l}\n`).join('') + tail);
      return root;
    }

    /** What the kept lines account for, counted here without the fold. */
    function expected(keep: number): { read: number; pending: number } {
      const recs = lines.slice(0, keep).map((l) => JSON.parse(l) as JobLogRecord);
      const done = new Set(recs.filter((r) => r.t === 'result').map((r) => (r as { seq: number }).seq));
      let read = 0;
      let pending = 0;
      for (const r of recs) {
        if (r.t !== 'planned') continue;
        read += r.freshRows;
        if (!done.has(r.seq)) pending += r.rows;
      }
      return { read, pending };
    }

    it('the whole log: exit 0, every row loaded', async () => {
      const res = await status(cut(lines.length));
      expect(res.code, res.stderr).to.equal(0);
      expect(res.json.result.totals).to.include({ loaded: 200_000, pending: 0 });
    });

    for (const keep of [1, 6, 71, 138]) {
      it(`cut after ${keep} records: never "every row loaded", exit 1 RunFilesDisagreeError with the counts`, async () => {
        const root = cut(keep);
        const want = expected(keep);
        const res = await status(root);
        expect(res.code).to.equal(1);
        expect(res.json.name).to.equal('RunFilesDisagreeError');
        expect(res.json.message).to.include(`${want.read.toLocaleString('en-US')} rows read with ${want.pending.toLocaleString('en-US')} pending`);
        expect(res.json.data.totals).to.include({ read: want.read, pending: want.pending, sourceRows: 200_000 });
        expect(res.stdout + res.stderr).not.to.match(/every source row loaded/);
      });
    }

    it('a torn last line (no newline) is ignored by readers: on the whole log exit 0, on a cut log the same counts as without it', async () => {
      const whole = await status(cut(lines.length, '{"t":"result","at":"2026-01-0'));
      expect(whole.code, whole.stderr).to.equal(0);
      expect(whole.json.result.problems).to.deep.equal([]);
      const torn = await status(cut(71, lines[71].slice(0, 40)));
      expect(torn.code).to.equal(1);
      const want = expected(71);
      expect(torn.json.data.totals).to.include({ read: want.read, pending: want.pending });
    });
  });

  describe('runners: live, crashed, reused pid', () => {
    it('a live runner is in progress: exit 4, runner and concurrency from lock.json; `status --wait 0.05` exits 4 after the wait', async () => {
      const root = tmpRoot();
      const f = new RunFixture(root, { runId: 'run-live', partitionRows: [2000], start: Date.now() - 60_000 });
      f.session('start', 0);
      f.job({ partition: 0, rows: 1000, at: 20 });
      f.close();
      const runner = await standInRunner(f.run, { concurrency: { limit: 6, inFlight: 1 } });
      try {
        const [res, human] = await Promise.all([status(root), cli(['datacloud', 'load', 'status', '--runs-dir', root])]);
        expect(res.code).to.equal(4);
        const s = res.json.result;
        expect(s).to.include({ state: 'running', runnerAlive: true });
        expect(s.runner).to.include({ pid: runner.pid, command: 'start' });
        expect(s.concurrency).to.deep.equal({ limit: 6, inFlight: 1 });
        expect(s.health).to.include({ verdict: 'in-progress', exitCode: 4 });
        expect(human.code).to.equal(4);
        expect(human.stdout).to.include(`State     running, start pid ${runner.pid}`).and.include('Running: 1,000 of 2,000 rows loaded so far.');
        const waited = await cli(['datacloud', 'load', 'status', '--runs-dir', root, '--wait', '0.05', '--interval', '1']);
        expect(waited.code).to.equal(4);
        expect(waited.stdout, 'status followed the run').to.include('Following run run-live');
        expect(waited.stdout + waited.stderr).to.include('still running after');
      } finally {
        await runner.stop();
      }
      const after = await status(root);
      expect(after.code, 'the runner is gone: crashed').to.equal(3);
      expect(after.json.result.state).to.equal('crashed');
    });

    it('the in-progress hint is runnable as printed (--wait has a value)', async () => {
      const root = tmpRoot();
      const f = new RunFixture(root, { runId: 'run-hint', partitionRows: [1000], start: Date.now() - 10_000 });
      f.session('start', 0).close();
      const runner = await standInRunner(f.run);
      try {
        const res = await status(root);
        const next: string = res.json.result.health.next;
        expect(next).to.match(/^sf datacloud load status .*--run-id run-hint/);
        const argv = shellWords(next);
        expect(argv[argv.indexOf('--wait') + 1], next).to.match(/^\d+(\.\d+)?$/);
      } finally {
        await runner.stop();
      }
    });

    it('--wait follows a live run until it ends, then exits with the final code', async () => {
      const root = tmpRoot();
      const f = new RunFixture(root, { runId: 'run-wait', partitionRows: [2000], start: Date.now() - 60_000 });
      f.session('start', 0);
      f.job({ partition: 0, rows: 1000, at: 5 });
      const runner = await standInRunner(f.run);
      const follow = spawnCli(['datacloud', 'load', 'status', '--runs-dir', root, '--wait', '1', '--interval', '1']);
      try {
        await follow.waitFor(/running: 1,000\/2,000 loaded/);
        f.job({ partition: 0, rows: 1000, at: 50, last: true });
        f.end(55, 'completed', { recount: 2000 }).close();
      } finally {
        await runner.stop();
      }
      const res = await follow.done;
      expect(res.code, res.stderr).to.equal(0);
      expect(res.stdout).to.match(/completed: 2,000\/2,000 loaded/).and.match(/every source row loaded/);
      const again = await status(root, '--wait', '1');
      expect(again.json.result.state).to.equal('completed');
    });

    it('a reused pid with a stale heartbeat is crashed, not in progress: exit 3', async () => {
      const root = tmpRoot();
      const f = new RunFixture(root, { runId: 'run-reused', partitionRows: [2000], start: Date.now() - 300_000 });
      f.session('start', 0);
      f.job({ partition: 0, rows: 1000, at: 60 });
      f.lock({ pid: process.pid, heartbeatAt: Date.now() - 60_000 });
      f.close();
      const res = await status(root);
      expect(res.code).to.equal(3);
      const s = res.json.result;
      expect(s).to.include({ state: 'crashed', recordedState: 'running', runnerAlive: false });
      expect(s.runner.pid).to.equal(process.pid);
      expect(s.health.message).to.include('The runner is gone');
      expect(shellWords(s.health.next)).to.include.members(['resume', '-o', ORG, '--run-id', 'run-reused']);
    });

    it('a dead pid with a fresh heartbeat is crashed: exit 3, says how to resume', async () => {
      const root = tmpRoot();
      const f = new RunFixture(root, { runId: 'run-crashed', partitionRows: [3000], start: Date.now() - 100_000 });
      f.session('start', 0);
      f.job({ partition: 0, rows: 1000, at: 50 });
      f.lock({ pid: await deadPid(), heartbeatAt: Date.now() });
      f.close();
      const [res, human] = await Promise.all([status(root, '--run-id', 'run-crashed'), cli(['datacloud', 'load', 'status', '--runs-dir', root])]);
      expect(res.code).to.equal(3);
      expect(res.json.result.state).to.equal('crashed');
      expect(human.code).to.equal(3);
      expect(human.stdout).to.include(`Next: sf datacloud load resume -o ${ORG} --run-id run-crashed --runs-dir ${root}`);
    });

    it('the resume hint parses as printed: it fails only for want of the org\'s auth', async () => {
      const root = tmpRoot();
      const f = new RunFixture(root, { runId: 'run-stopped', partitionRows: [1000], start: T0 });
      f.session('start', 0, 10, 'stopped').close();
      const res = await status(root);
      expect(res.code).to.equal(3);
      const argv = shellWords(res.json.result.health.next);
      expect(argv[0]).to.equal('sf');
      const resume = await cli([...argv.slice(1), '--json']);
      expect(resume.code).to.equal(1);
      expect(resume.json.name, resume.stdout).not.to.match(/Flag|Parse|Unexpected|Required/i);
      expect(resume.json.message, resume.stdout).to.include(ORG);
    });
  });

  it('incomplete: the source changed (recount ≠ rows read) → exit 2 with the message, whatever the threshold', async () => {
    const root = tmpRoot();
    const f = new RunFixture(root, { runId: 'run-changed', partitionRows: [1000, 1000], start: T0 });
    f.session('start', 0);
    f.job({ partition: 0, rows: 1000, at: 10, last: true });
    f.job({ partition: 1, rows: 1000, at: 20, last: true });
    f.end(30, 'incomplete', { recount: 2100 }).close();
    const [res, lenient] = await Promise.all([status(root), status(root, '--min-success-rate', '0')]);
    expect(res.code).to.equal(2);
    const s = res.json.result;
    expect(s.state).to.equal('incomplete');
    expect(s.totals).to.include({ sourceRows: 2100, read: 2000, unread: 100, loaded: 2000, failed: 0 });
    expect(s.health.message).to.include('2,000 of 2,100 source rows loaded').and.include('the source has 2,100 rows now, 2,000 were read: it changed during the run');
    expect(s.health.next).to.equal(null);
    expect(lenient.code).to.equal(2);
  });

  it('incomplete: rows deleted from the source during the run (recount < rows read) → exit 2, a success rate within 0..1, the right counts', async () => {
    const root = tmpRoot();
    const f = new RunFixture(root, { runId: 'run-shrunk', partitionRows: [1000, 1000], start: T0 });
    f.session('start', 0);
    f.job({ partition: 0, rows: 1000, at: 10, last: true });
    f.job({ partition: 1, rows: 1000, at: 20, last: true });
    f.end(30, 'incomplete', { recount: 1900 }).close();
    const res = await status(root);
    expect(res.code).to.equal(2);
    expect(res.json.result.health.message).to.include('the source has 1,900 rows now, 2,000 were read');
  });

  describe('which run: latest, --run-id, path traversal, damaged files', () => {
    it('picks the latest run without --run-id, honours $SF_DATACLOUD_LOAD_DIR', async () => {
      const root = tmpRoot();
      cleanRun(root, 'run-a');
      partialRun(root, 'run-b');
      const res = await cli(['datacloud', 'load', 'status', '--json'], { SF_DATACLOUD_LOAD_DIR: root });
      expect(res.json.result.runId).to.equal('run-b');
      valid(res.json.result);
    });

    it('run-id path traversal: `..`, `../x`, `../../x`, `/etc` → exit 1 InvalidRunIdError; nothing outside the runs root is read', async () => {
      const base = tmpRoot();
      const root = join(base, 'a', 'runs');
      mkdirSync(root, { recursive: true });
      cleanRun(root, 'run-inside');
      // Anything outside the runs root that an id could name is a FIFO: reading it would hang the command.
      for (const dir of [join(base, 'a'), join(base, 'a', 'x'), join(base, 'x')]) {
        mkdirSync(dir, { recursive: true });
        execFileSync('mkfifo', [join(dir, 'run.json')]);
        execFileSync('mkfifo', [join(dir, 'jobs.ndjson')]);
      }
      const ids = ['..', '../x', '../../x', '/etc', '.'];
      const results = await Promise.all(ids.map((id) => cli(['datacloud', 'load', 'status', '--json', '--runs-dir', root, '--run-id', id], {}, { timeoutMs: 90_000 })));
      results.forEach((res, i) => {
        expect(res.code, `${ids[i]}: ${res.stdout}`).to.equal(1);
        expect(res.json.name, ids[i]).to.equal('InvalidRunIdError');
        expect(res.json.result, ids[i]).to.equal(undefined);
      });
    });

    it('a corrupt latest run.json is not skipped silently: exit 1 CorruptStatusFileError naming the file', async () => {
      const root = tmpRoot();
      cleanRun(root, 'run-a');
      const b = partialRun(root, 'run-b');
      const text = readFileSync(b.run.manifestFile, 'utf8');
      writeFileSync(b.run.manifestFile, text.slice(0, text.length / 2));
      const [res, other] = await Promise.all([status(root), status(root, '--run-id', 'run-a')]);
      expect(res.code).to.equal(1);
      expect(res.json.name).to.equal('CorruptStatusFileError');
      expect(res.json.message).to.include(b.run.manifestFile).and.include('is not valid JSON');
      expect(res.json.result).to.equal(undefined);
      writeFileSync(b.run.manifestFile, '{"schemaVersion": 2}\n');
      const notManifest = await status(root);
      expect(notManifest.json.name).to.equal('CorruptStatusFileError');
      expect(notManifest.json.message).to.include(b.run.manifestFile).and.include('is not a run manifest');
      expect(other.code, 'the other run stays readable').to.equal(0);
    });

    it('a run written with run-file schema version 1 is named, not misread: exit 1 RunVersionError', async () => {
      const root = tmpRoot();
      const f = cleanRun(root, 'run-old');
      const m = JSON.parse(readFileSync(f.run.manifestFile, 'utf8'));
      writeFileSync(f.run.manifestFile, JSON.stringify({ ...m, schemaVersion: 1 }));
      const res = await status(root);
      expect(res.code).to.equal(1);
      expect(res.json.name).to.equal('RunVersionError');
      expect(res.json.message).to.include('run-old').and.include('version 1');
    });

    it('errors exit 1 with actions: no runs, unknown run id (lists the ids), damaged line (file, line, nothing changed)', async () => {
      const empty = tmpRoot();
      const root = tmpRoot();
      const f = cleanRun(root, 'run-known');
      const [none, unknown] = await Promise.all([status(empty), status(root, '--run-id', 'nope')]);
      expect(none.code).to.equal(1);
      expect(none.json.name).to.equal('NoRunsError');
      expect(none.json.actions.join(' ')).to.include('sf datacloud load start');

      expect(unknown.code).to.equal(1);
      expect(unknown.json.name).to.equal('UnknownRunIdError');
      expect(unknown.json.actions.join(' ')).to.include('run-known');

      const lines = readFileSync(f.run.jobLogFile, 'utf8').split('\n');
      lines[2] = '{"t":"crea';
      writeFileSync(f.run.jobLogFile, lines.join('\n'));
      const damaged = readFileSync(f.run.jobLogFile, 'utf8');
      const corrupt = await status(root);
      expect(corrupt.code).to.equal(1);
      expect(corrupt.json.name).to.equal('CorruptStatusFileError');
      expect(corrupt.json.message).to.include(f.run.jobLogFile).and.include('line 3').and.include('Nothing was changed');
      expect(corrupt.json.actions.join(' ')).to.include('sf datacloud load resume');
      expect(readFileSync(f.run.jobLogFile, 'utf8')).to.equal(damaged);
    });
  });
});

describe('status while start runs (the engine against the emulator, held with bulk.holdAfterJobs)', function () {
  this.timeout(600_000);
  let emu: Emulator;
  let org: OrgHome;

  before(async function () {
    const ds = generateDataset({ rows: 2_000, parents: 100, seed: 5, shuffle: true });
    emu = await startEmulator({ timeScale: 50, ...datasetConfig(ds) });
    // The emulator's hold switches (test/emulator/config.ts bulk.hold / holdAfterJobs) hold the load still.
    if (!('hold' in emu.config.bulk)) this.skip();
    org = await loginToEmulator(emu);
  });
  after(async () => emu?.close());

  it('reads status --json 20 times while the load is held: each valid, in progress (exit 4), never crashed; the end matches start', async () => {
    emu.configure({ bulk: { holdAfterJobs: 2, rowRules: [{ name: 'v', code: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: 'Amount must be reviewed', rate: 0.01 }] } } as never);
    const def = join(org.home, 'live.json');
    writeFileSync(def, JSON.stringify(opportunityDefinition('ExtOpportunities__dlm', { partitions: 2, rowsPerJob: 250, pollSeconds: [0.05, 0.2], retryDelaysSeconds: [0.1, 0.2] })));
    const child = spawnPlugin(['datacloud', 'load', 'start', '--target-org', 'emu', '--definition', def, '--json'], org);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('close', r));
    try {
      // Two jobs run to their results; the third is held in the org (UploadComplete) until released.
      const t0 = Date.now();
      let runId: string | undefined;
      for (;;) {
        runId ??= RunDir.list(org.runsDir)[0];
        const log = runId ? readNdjson<JobLogRecord>(join(org.runsDir, runId, 'jobs.ndjson')) : [];
        const results = log.filter((r) => r.t === 'result' && r.kind !== 'reject').length;
        const closed = log.filter((r) => r.t === 'closed').length;
        if (results >= 2 && closed >= 3) break;
        if (Date.now() - t0 > 120_000) throw new Error(`the load did not reach its hold\n${stderr.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      for (let i = 0; i < 20; i++) {
        const res = await runPlugin(['datacloud', 'load', 'status', '--json'], org);
        expect(res.json?.result, `read ${i}: ${res.stdout.slice(0, 500)} ${res.stderr.slice(-1000)}`).to.not.equal(undefined);
        valid(res.json.result);
        const s = res.json.result;
        expect(s.state, `read ${i}`).to.equal('running');
        expect(res.code).to.equal(4);
        expect(s.totals.loaded + s.totals.failed + s.totals.pending).to.equal(s.totals.read);
        expect(s.totals.read + s.totals.unread).to.equal(s.totals.sourceRows);
        expect(s.jobs.inFlight).to.be.greaterThan(0);
      }
      emu.configure({ bulk: { holdAfterJobs: null } } as never);
    } finally {
      emu.configure({ bulk: { holdAfterJobs: null } } as never);
      await exited;
    }
    const start = JSON.parse(stdout).result;
    expect(startSchema(start), JSON.stringify(startSchema.errors)).to.equal(true);
    const final = await runPlugin(['datacloud', 'load', 'status', '--json', '--run-id', start.runId], org);
    valid(final.json.result);
    const s = final.json.result;
    expect(s.state).to.equal(start.state);
    expect(s.totals).to.deep.equal(start.totals);
    expect(s.jobs).to.deep.equal(start.jobs);
    const codes = Object.values(s.failuresByCode as Record<string, { count: number }>).reduce((n, g) => n + g.count, 0);
    expect(codes).to.equal(s.totals.failed);
    expect(final.code).to.equal(s.totals.failed > 0 ? 2 : 0);
  });
});
