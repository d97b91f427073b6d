/*
 * sf datacloud load status: the fold of a run directory (summarizeRun) on runs written
 * through the RunDir API, and the command as a user runs it (`node bin/run.js … --json`),
 * its output checked against schemas/status.json and its exit codes.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { summarizeRun } from '../../src/state/summary.js';
import { CorruptStatusFileError } from '../../src/state/files.js';
import { RunFixture, cli, deadPid } from '../helpers/runs.js';
import { RunDir } from '../../src/state/run-dir.js';
import { startEmulator, type Emulator } from '../emulator/server.js';
import { datasetConfig, generateDataset } from '../emulator/dataset.js';
import { loginToEmulator, runPlugin, spawnPlugin, type OrgHome } from '../helpers/plugin.js';

const ROOT = join(import.meta.dirname, '..', '..');
const ajv = new Ajv({ allErrors: true, strict: false });
const statusSchema = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'schemas/status.json'), 'utf8')));
const T0 = Date.parse('2026-01-05T09:00:00.000Z');

function tmpRoot(): string {
  return mkdtempSync(join(tmpdir(), 'dcl-status-'));
}

/** 2 partitions × 2,000 rows, all loaded in 4 jobs over 100 s. */
function cleanRun(root: string, runId = 'run-clean'): RunFixture {
  const f = new RunFixture(root, { runId, partitionRows: [2000, 2000], start: T0 });
  f.session('start', 0);
  f.job({ partition: 0, rows: 1000, at: 20 });
  f.job({ partition: 1, rows: 1000, at: 30 });
  f.job({ partition: 0, rows: 1000, at: 60 });
  f.job({ partition: 1, rows: 1000, at: 90 });
  f.finishPartitions();
  f.run.updateManifest((m) => ({ ...m, state: 'completed', endedAt: f.iso(100), sessions: [{ ...m.sessions[0], endedAt: f.iso(100), outcome: 'completed' }] }));
  return f;
}

/** 1 partition × 2,000 rows: lock errors retried, 10 validation failures (99.5%). */
function partialRun(root: string, runId = 'run-partial'): RunFixture {
  const f = new RunFixture(root, { runId, name: 'partial', partitionRows: [2000], start: T0 });
  f.session('start', 0, 300, 'completed');
  const keys = Array.from({ length: 10 }, (_, i) => `opp-${i}`);
  f.job({ partition: 0, rows: 1000, at: 30, requeued: 40, failures: { FIELD_CUSTOM_VALIDATION_EXCEPTION: keys.slice(0, 6) } });
  f.job({ partition: 0, rows: 1000, at: 60, requeued: 20, failures: { FIELD_CUSTOM_VALIDATION_EXCEPTION: keys.slice(6) } });
  f.job({ partition: 0, rows: 60, at: 120, retry: true });
  f.finishPartitions();
  return f;
}

describe('status: summarizeRun (the fold of a run directory)', () => {
  it('a clean completed run: counts, jobs, partitions, timing, settings, files', () => {
    const f = cleanRun(tmpRoot());
    const s = summarizeRun(f.run, { now: T0 + 500_000 });
    expect(statusSchema(s), JSON.stringify(statusSchema.errors)).to.equal(true);
    expect(s.schemaVersion).to.equal(1);
    expect(s.state).to.equal('completed');
    expect(s.health).to.include({ verdict: 'ok', exitCode: 0 });
    expect(s.totals).to.deep.equal({ sourceRows: 4000, read: 4000, loaded: 4000, created: 2000, updated: 2000, failed: 0, pending: 0, retriedRows: 0, successRate: 1, firstPassSuccessRate: 1 });
    expect(s.jobs).to.deep.equal({ total: 4, orgJobs: 4, completed: 4, inFlight: 0, queued: 0, failedJobs: 0, retryJobs: 0 });
    expect(s.apiCalls).to.equal(24);
    expect(s.partitions.map((p) => [p.index, p.state, p.read, p.loaded, p.jobs])).to.deep.equal([
      [0, 'done', 2000, 2000, 2],
      [1, 'done', 2000, 2000, 2],
    ]);
    expect(s.timing.elapsedSeconds).to.equal(100);
    expect(s.timing.throughputPerMinute).to.equal(2400);
    expect(s.timing.etaSeconds).to.equal(null);
    expect(s.timing.endedAt).to.equal(f.iso(100));
    expect(s.settings).to.include({ profile: 'default', strategy: 'adaptive', rowsPerJob: 1000, plannedPartitions: 2, maxAttempts: 4 });
    expect(s.files.jobLog).to.equal(f.run.jobLogFile);
    expect(JSON.stringify(s)).not.to.match(/token|00D[A-Za-z0-9]{12}![A-Za-z0-9]/i);
  });

  it('a partial run: failed, retried rows, retry jobs, first-pass rate, failures by code with sample keys, thresholds', () => {
    const f = partialRun(tmpRoot());
    const s = summarizeRun(f.run);
    expect(statusSchema(s), JSON.stringify(statusSchema.errors)).to.equal(true);
    expect(s.totals).to.include({ sourceRows: 2000, read: 2000, loaded: 1990, failed: 10, pending: 0, retriedRows: 60, successRate: 0.995 });
    expect(s.totals.firstPassSuccessRate).to.equal((2000 - 60 - 10) / 2000);
    expect(s.jobs).to.include({ total: 3, retryJobs: 1, completed: 3 });
    expect(s.failuresByCode).to.deep.equal({
      FIELD_CUSTOM_VALIDATION_EXCEPTION: { count: 10, sampleKeys: ['opp-0', 'opp-1', 'opp-2', 'opp-3', 'opp-4'], message: 'FIELD_CUSTOM_VALIDATION_EXCEPTION message', transient: false },
    });
    expect(s.health).to.include({ verdict: 'partial', exitCode: 2, minSuccessRate: 100 });
    expect(s.health.next).to.equal('sf datacloud load retry-failures --run-id run-partial');
    expect(summarizeRun(f.run, { minSuccessRate: 99.5 }).health).to.include({ verdict: 'ok', exitCode: 0 });
    expect(summarizeRun(f.run, { minSuccessRate: 99.6 }).health).to.include({ verdict: 'partial', exitCode: 2 });
  });

  it('retry-failures: recovered rows leave failed, `loaded` records supersede failures, a duplicate result counts once', () => {
    const f = partialRun(tmpRoot());
    f.session('retry-failures', 400, 420, 'completed');
    const seq = f.job({ partition: 0, rows: 10, at: 410, kind: 'failures-retry', retry: true, succeeded: 4, recovered: 4, failures: { FIELD_CUSTOM_VALIDATION_EXCEPTION: ['opp-6', 'opp-7', 'opp-8', 'opp-9', 'opp-5', 'opp-4'] } });
    f.loadedAgain(['opp-0', 'opp-1', 'opp-2', 'opp-3'], seq);
    // The engine never writes two results for a seq, but a reader must not count one twice.
    const dup = f.run.readJobLog().filter((r) => r.t === 'result').at(-1)!;
    f.run.appendJobLog(dup);
    const s = summarizeRun(f.run);
    expect(s.totals.loaded).to.equal(1994);
    expect(s.totals.failed).to.equal(6);
    expect(s.failuresByCode.FIELD_CUSTOM_VALIDATION_EXCEPTION.count).to.equal(6);
    expect(s.failuresByCode.FIELD_CUSTOM_VALIDATION_EXCEPTION.sampleKeys).not.to.include('opp-0');
    expect(s.timing.sessions).to.have.length(2);
    expect(s.timing.elapsedSeconds).to.equal(320);
  });

  it('a running run with a live runner: in flight, queued, read vs planned, ETA; org job re-created after resume counted once', async () => {
    const root = tmpRoot();
    const now = Date.now();
    const f = new RunFixture(root, { runId: 'run-live', partitionRows: [3000, 3000], start: now - 120_000 });
    f.session('start', 0);
    f.job({ partition: 0, rows: 1000, at: 60 });
    f.job({ partition: 1, rows: 1000, at: 100 });
    const open = f.job({ partition: 0, rows: 1000, at: 118, stopAfter: 'closed' });
    const oldJob = f.run.readJobLog().filter((r) => r.t === 'created' && r.seq === open).at(-1) as { jobId: string };
    f.run.appendJobLog({ t: 'aborted', at: f.iso(118.5), seq: open, jobId: oldJob.jobId, reason: 'resume' }, { t: 'created', at: f.iso(119), seq: open, jobId: 'b' });
    f.job({ partition: 1, rows: 1000, at: 119, stopAfter: 'created' });
    f.job({ partition: 1, rows: 1000, at: 119, stopAfter: 'planned' });
    f.heartbeat(process.pid, 119);
    const s = summarizeRun(f.run, { now });
    expect(statusSchema(s), JSON.stringify(statusSchema.errors)).to.equal(true);
    expect(s.state).to.equal('running');
    expect(s.runnerAlive).to.equal(true);
    expect(s.health).to.include({ verdict: 'in-progress', exitCode: 0 });
    expect(s.totals).to.include({ sourceRows: 6000, read: 5000, loaded: 2000, pending: 4000 });
    expect(s.jobs).to.deep.equal({ total: 4, orgJobs: 5, completed: 2, inFlight: 2, queued: 1, failedJobs: 0, retryJobs: 0 });
    expect(s.partitions.map((p) => [p.read, p.inFlight])).to.deep.equal([[2000, 1], [3000, 1]]);
    expect(s.timing.elapsedSeconds).to.be.closeTo(120, 1);
    expect(s.timing.recentThroughputPerMinute).to.be.closeTo(1000, 10);
    expect(s.timing.etaSeconds).to.be.closeTo(240, 3);
  });

  it('state running with a dead runner is crashed (needs resume, exit 3); elapsed stops at the last record', async () => {
    const f = new RunFixture(tmpRoot(), { runId: 'run-crashed', partitionRows: [3000], start: T0 });
    f.session('start', 0);
    f.job({ partition: 0, rows: 1000, at: 50 });
    f.job({ partition: 0, rows: 1000, at: 70, stopAfter: 'closed' });
    f.heartbeat(await deadPid(), 75);
    const s = summarizeRun(f.run);
    expect(s.state).to.equal('crashed');
    expect(s.recordedState).to.equal('running');
    expect(s.health).to.include({ verdict: 'needs-resume', exitCode: 3, next: 'sf datacloud load resume --run-id run-crashed' });
    expect(s.timing.elapsedSeconds).to.equal(75);
    expect(s.timing.etaSeconds).to.equal(null);
    expect(s.jobs.inFlight).to.equal(1);
  });

  it('stopped, failed and cancelled runs need resume (exit 3)', () => {
    for (const state of ['stopped', 'failed', 'cancelled'] as const) {
      const f = new RunFixture(tmpRoot(), { runId: `run-${state}`, partitionRows: [100], start: T0 });
      f.session('start', 0, 10, state);
      const s = summarizeRun(f.run);
      expect(s.state).to.equal(state);
      expect(s.health).to.include({ verdict: 'needs-resume', exitCode: 3 });
    }
  });

  it('ignores a torn last line (a crash mid-append) in jobs.ndjson', () => {
    const f = cleanRun(tmpRoot());
    f.tearJobLog();
    expect(summarizeRun(f.run).totals.loaded).to.equal(4000);
  });

  it('a damaged line in the middle of jobs.ndjson is a CorruptStatusFileError naming the file and line', () => {
    const f = cleanRun(tmpRoot());
    const lines = readFileSync(f.run.jobLogFile, 'utf8').split('\n');
    lines[4] = lines[4].slice(0, 20);
    writeFileSync(f.run.jobLogFile, lines.join('\n'));
    expect(() => summarizeRun(f.run)).to.throw(CorruptStatusFileError, /jobs\.ndjson: line 5 is not valid JSON/);
  });

  it('folds 20,000 job-log lines quickly', () => {
    const f = new RunFixture(tmpRoot(), { runId: 'run-big', partitionRows: [2_500_000, 2_500_000], start: T0 });
    f.session('start', 0);
    const recs = [];
    for (let seq = 1; seq <= 4000; seq++) {
      const partition = seq % 2;
      const at = f.iso(seq);
      const jobId = `750${seq}`;
      recs.push(
        { t: 'planned' as const, at, seq, kind: 'load' as const, partition, rows: 500, freshRows: 500, retryRows: 0 },
        { t: 'created' as const, at, seq, jobId },
        { t: 'uploaded' as const, at, seq, jobId, bytes: 1 },
        { t: 'closed' as const, at, seq, jobId },
        { t: 'result' as const, at, seq, jobId, kind: 'load' as const, partition, state: 'JobComplete' as const, rows: 500, succeeded: 499, created: 499, updated: 0, failedFinal: 1, requeued: 0, transientErrors: 0, recovered: 0, apiCalls: 6, seconds: 1, errorCodes: { X: 1 } }
      );
    }
    f.run.appendJobLog(...recs);
    const t = performance.now();
    const s = summarizeRun(f.run);
    const ms = performance.now() - t;
    expect(s.totals.loaded).to.equal(4000 * 499);
    expect(s.jobs.total).to.equal(4000);
    expect(ms).to.be.lessThan(1000);
  });
});

describe('status: the command (node bin/run.js datacloud load status)', function () {
  this.timeout(120_000);

  it('completed clean → exit 0, JSON matches the schema; human output has the partition table', async () => {
    const root = tmpRoot();
    cleanRun(root);
    const res = await cli(['datacloud', 'load', 'status', '--json', '--runs-dir', root]);
    expect(res.code, res.stderr).to.equal(0);
    expect(res.json.status).to.equal(0);
    expect(statusSchema(res.json.result), JSON.stringify(statusSchema.errors)).to.equal(true);
    expect(res.json.result.runId).to.equal('run-clean');
    const human = await cli(['datacloud', 'load', 'status', '--runs-dir', root]);
    expect(human.code).to.equal(0);
    expect(human.stdout).to.match(/Partition/).and.match(/Loaded\s+4,000 of 4,000 \(100\.00%\)/).and.match(/every row loaded/);
  });

  it('partial failure → exit 2 by default and below --min-success-rate, 0 at or above it; JSON is still printed', async () => {
    const root = tmpRoot();
    partialRun(root);
    const strict = await cli(['datacloud', 'load', 'status', '--json', '--runs-dir', root]);
    expect(strict.code).to.equal(2);
    expect(statusSchema(strict.json.result), JSON.stringify(statusSchema.errors)).to.equal(true);
    expect(strict.json.result.health.verdict).to.equal('partial');
    const above = await cli(['datacloud', 'load', 'status', '--json', '--runs-dir', root, '--min-success-rate', '99.5']);
    expect(above.code).to.equal(0);
    const below = await cli(['datacloud', 'load', 'status', '--json', '--runs-dir', root, '--min-success-rate', '99.9']);
    expect(below.code).to.equal(2);
    expect(below.json.result.health.minSuccessRate).to.equal(99.9);
    const bad = await cli(['datacloud', 'load', 'status', '--json', '--runs-dir', root, '--min-success-rate', '120']);
    expect(bad.code).to.equal(1);
  });

  it('crashed (state running, heartbeat pid dead) → exit 3 and says how to resume', async () => {
    const root = tmpRoot();
    const f = new RunFixture(root, { runId: 'run-crashed', partitionRows: [3000], start: T0 });
    f.session('start', 0);
    f.job({ partition: 0, rows: 1000, at: 50 });
    f.heartbeat(await deadPid(), 60);
    const res = await cli(['datacloud', 'load', 'status', '--json', '--runs-dir', root, '--run-id', 'run-crashed']);
    expect(res.code).to.equal(3);
    expect(statusSchema(res.json.result), JSON.stringify(statusSchema.errors)).to.equal(true);
    expect(res.json.result.state).to.equal('crashed');
    const human = await cli(['datacloud', 'load', 'status', '--runs-dir', root]);
    expect(human.code).to.equal(3);
    expect(human.stdout).to.include('sf datacloud load resume --run-id run-crashed');
  });

  it('picks the latest run without --run-id, honours $SF_DATACLOUD_LOAD_DIR', async () => {
    const root = tmpRoot();
    cleanRun(root, 'run-a');
    await new Promise((r) => setTimeout(r, 20));
    partialRun(root, 'run-b');
    const res = await cli(['datacloud', 'load', 'status', '--json'], { SF_DATACLOUD_LOAD_DIR: root });
    expect(res.json.result.runId).to.equal('run-b');
  });

  it('errors exit 1 with actions: no runs, unknown run id (lists the ids), damaged file (file, line, nothing changed)', async () => {
    const empty = tmpRoot();
    const none = await cli(['datacloud', 'load', 'status', '--json', '--runs-dir', empty]);
    expect(none.code).to.equal(1);
    expect(none.json.name).to.equal('NoRunsError');
    expect(none.json.actions.join(' ')).to.include('sf datacloud load start');

    const root = tmpRoot();
    const f = cleanRun(root, 'run-known');
    const unknown = await cli(['datacloud', 'load', 'status', '--json', '--runs-dir', root, '--run-id', 'nope']);
    expect(unknown.code).to.equal(1);
    expect(unknown.json.name).to.equal('UnknownRunIdError');
    expect(unknown.json.actions.join(' ')).to.include('run-known');

    const before = readFileSync(f.run.jobLogFile, 'utf8');
    const lines = before.split('\n');
    lines[2] = '{"t":"uplo';
    writeFileSync(f.run.jobLogFile, lines.join('\n'));
    const damaged = readFileSync(f.run.jobLogFile, 'utf8');
    const corrupt = await cli(['datacloud', 'load', 'status', '--json', '--runs-dir', root]);
    expect(corrupt.code).to.equal(1);
    expect(corrupt.json.name).to.equal('CorruptStatusFileError');
    expect(corrupt.json.message).to.include(f.run.jobLogFile).and.include('line 3').and.include('Nothing was changed');
    expect(corrupt.json.actions.join(' ')).to.include('sf datacloud load resume');
    expect(readFileSync(f.run.jobLogFile, 'utf8')).to.equal(damaged);
    // A torn last line is not damage.
    writeFileSync(f.run.jobLogFile, before);
    appendFileSync(f.run.jobLogFile, '{"t":"res');
    const torn = await cli(['datacloud', 'load', 'status', '--json', '--runs-dir', root]);
    expect(torn.code).to.equal(0);
  });

  it('--wait follows a live run until it ends, then exits with the final code', async () => {
    const root = tmpRoot();
    const f = new RunFixture(root, { runId: 'run-wait', partitionRows: [2000], start: Date.now() - 10_000 });
    f.session('start', 0);
    f.job({ partition: 0, rows: 1000, at: 5 });
    // A stand-in runner: alive for ~3 s, then records the last job and completes the run.
    const runner = spawn(process.execPath, ['--import', 'tsx', '-e', `
      const { RunDir } = await import(${JSON.stringify(join(ROOT, 'src/state/run-dir.ts'))});
      const run = new RunDir(${JSON.stringify(f.run.dir)}, 'run-wait');
      run.writeHeartbeat('start');
      await new Promise((r) => setTimeout(r, 3000));
      const at = new Date().toISOString();
      run.appendJobLog({ t: 'planned', at, seq: 99, kind: 'load', partition: 0, rows: 1000, freshRows: 1000, retryRows: 0 },
        { t: 'created', at, seq: 99, jobId: 'j' },
        { t: 'result', at, seq: 99, jobId: 'j', kind: 'load', partition: 0, state: 'JobComplete', rows: 1000, succeeded: 1000, created: 1000, updated: 0, failedFinal: 0, requeued: 0, transientErrors: 0, recovered: 0, apiCalls: 5, seconds: 1, errorCodes: {} });
      run.updateManifest((m) => ({ ...m, state: 'completed', endedAt: at, sessions: [{ ...m.sessions[0], endedAt: at, outcome: 'completed' }] }));
    `], { cwd: ROOT, stdio: 'inherit' });
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const res = await cli(['datacloud', 'load', 'status', '--runs-dir', root, '--wait', '--interval', '1']);
      expect(res.code, res.stderr).to.equal(0);
      expect(res.stdout).to.match(/running: 1,000\/2,000 loaded/).and.match(/completed: 2,000\/2,000 loaded/);
      const again = await cli(['datacloud', 'load', 'status', '--runs-dir', root, '--wait', '--json']);
      expect(again.json.result.state).to.equal('completed');
    } finally {
      runner.kill();
    }
  });
});


describe('status while start runs (the engine against the emulator)', function () {
  this.timeout(600_000);
  let emu: Emulator;
  let org: OrgHome;

  before(async () => {
    const ds = generateDataset({ rows: 20_000, parents: 400, seed: 5, shuffle: true });
    emu = await startEmulator({ timeScale: 50, ...datasetConfig(ds) });
    org = await loginToEmulator(emu);
  });
  after(async () => emu?.close());

  it('reads status --json 20 times in a row during a load: each valid JSON matching the schema, never crashed; the end matches start', async () => {
    emu.configure({ bulk: { rowRules: [{ name: 'v', code: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: 'Amount must be reviewed', rate: 0.005 }] } });
    const def = join(org.home, 'live.json');
    writeFileSync(
      def,
      JSON.stringify({
        version: 1,
        name: 'status-live',
        source: { object: 'ExtOpportunities__dlm', keyColumn: 'ExternalId__c', parentColumn: 'AccountExternalId__c' },
        target: {
          object: 'Opportunity',
          externalIdField: 'External_ID__c',
          mapping: { ExternalId__c: 'External_ID__c', Name__c: 'Name', StageName__c: 'StageName', CloseDate__c: 'CloseDate', Amount__c: 'Amount', AccountExternalId__c: 'Account.External_ID__c' },
        },
        pacing: { partitions: 2, rowsPerJob: 500, delaySeconds: [0.4, 0.6], pollSeconds: [0.05, 0.2], retryDelaysSeconds: [0.1, 0.2] },
      })
    );
    const child = spawnPlugin(['datacloud', 'load', 'start', '--target-org', 'emu', '--definition', def, '--json'], org);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('close', r));
    try {
      const t0 = Date.now();
      while (RunDir.list(org.runsDir).length === 0) {
        if (Date.now() - t0 > 60_000) throw new Error(`no run directory appeared\n${stderr.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const states: string[] = [];
      for (let i = 0; i < 20; i++) {
        const res = await runPlugin(['datacloud', 'load', 'status', '--json'], org);
        expect(res.json, `read ${i}: ${res.stdout.slice(0, 500)} ${res.stderr.slice(-1000)}`).to.not.equal(undefined);
        expect(statusSchema(res.json.result), `read ${i}: ${JSON.stringify(statusSchema.errors)}`).to.equal(true);
        const s = res.json.result;
        states.push(s.state);
        expect(s.state, `read ${i}`).to.not.equal('crashed');
        expect([0, 2]).to.include(res.code);
        expect(s.totals.loaded + s.totals.failed + s.totals.pending).to.equal(s.totals.sourceRows);
      }
      if (process.env.DEBUG_STATUS_TEST) console.log(states.join(','));
      expect(states.filter((s) => s === 'running').length, states.join(',')).to.be.greaterThan(5);
    } finally {
      await exited;
    }
    const start = JSON.parse(stdout).result;
    const final = await runPlugin(['datacloud', 'load', 'status', '--json', '--run-id', start.runId], org);
    expect(statusSchema(final.json.result)).to.equal(true);
    const s = final.json.result;
    expect(s.state).to.equal(start.state);
    expect(s.totals.loaded).to.equal(start.totals.loaded);
    expect(s.totals.failed).to.equal(start.totals.failed);
    expect(s.totals.retriedRows).to.equal(start.totals.retried);
    expect(s.jobs.total).to.equal(start.totals.jobs);
    expect(s.apiCalls).to.equal(start.totals.apiCalls);
    const codes = Object.values(s.failuresByCode as Record<string, { count: number }>).reduce((n, g) => n + g.count, 0);
    expect(codes).to.equal(s.totals.failed);
    expect(final.code).to.equal(s.totals.failed > 0 ? 2 : 0);
  });
});
