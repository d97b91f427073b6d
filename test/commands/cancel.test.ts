/*
 * sf datacloud load cancel: with a live runner (a stand-in that honours cancel.json like
 * the engine), with no runner and no org, with no runner and the emulator's org (the
 * command aborts the open Bulk jobs itself), and on a run that is already over.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunFixture, ROOT, cli, deadPid } from '../helpers/runs.js';
import { startEmulator, type Emulator } from '../emulator/server.js';
import { datasetConfig, generateDataset } from '../emulator/dataset.js';
import { loginToEmulator, runPlugin, spawnPlugin, type OrgHome } from '../helpers/plugin.js';
import { writeFileSync } from 'node:fs';
import { RunDir } from '../../src/state/run-dir.js';

const T0 = Date.parse('2026-01-05T09:00:00.000Z');

function tmpRoot(): string {
  return mkdtempSync(join(tmpdir(), 'dcl-cancel-'));
}

/** A running run with one finished job and two open org jobs. */
function runningRun(root: string, runId: string, start = T0): RunFixture {
  const f = new RunFixture(root, { runId, partitionRows: [3000, 3000], start });
  f.session('start', 0);
  f.job({ partition: 0, rows: 1000, at: 30 });
  f.job({ partition: 0, rows: 1000, at: 60, stopAfter: 'closed' });
  f.job({ partition: 1, rows: 1000, at: 61, stopAfter: 'created' });
  return f;
}

/** A stand-in runner: heartbeats; on cancel.json aborts its open jobs, records them, sets cancelled, exits. */
function fakeRunner(runDir: string, runId: string): ChildProcess {
  const script = `
    const { RunDir } = await import(${JSON.stringify(join(ROOT, 'src/state/run-dir.ts'))});
    const run = new RunDir(${JSON.stringify(runDir)}, ${JSON.stringify(runId)});
    run.writeHeartbeat('start');
    const hb = setInterval(() => run.writeHeartbeat('start'), 200);
    const timer = setInterval(() => {
      if (!run.readCancel()) return;
      clearInterval(timer);
      const at = new Date().toISOString();
      const open = new Map();
      for (const r of run.readJobLog()) {
        if (r.t === 'created') open.set(r.seq, r.jobId);
        if (r.t === 'result' || r.t === 'aborted') open.delete(r.seq);
      }
      for (const [seq, jobId] of open) run.appendJobLog({ t: 'aborted', at, seq, jobId, reason: 'cancelled by sf datacloud load cancel' });
      run.updateManifest((m) => ({ ...m, state: 'cancelled', sessions: m.sessions.map((s, i) => (i === m.sessions.length - 1 ? { ...s, endedAt: at, outcome: 'cancelled' } : s)) }));
      clearInterval(hb);
      process.exit(0);
    }, 300);
  `;
  return spawn(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, stdio: 'inherit' });
}

describe('cancel', function () {
  this.timeout(180_000);

  it('a live runner is asked to stop and the command waits until the run is cancelled', async () => {
    const root = tmpRoot();
    const f = runningRun(root, 'run-live', Date.now() - 60_000);
    const runner = fakeRunner(f.run.dir, 'run-live');
    try {
      const deadline = Date.now() + 20_000;
      while (!f.run.runnerAlive() || f.run.readHeartbeat()?.pid !== runner.pid) {
        if (Date.now() > deadline) throw new Error('the stand-in runner did not start');
        await new Promise((r) => setTimeout(r, 100));
      }
      const res = await cli(['datacloud', 'load', 'cancel', '--runs-dir', root, '--json', '--wait', '30']);
      expect(res.code, res.stderr).to.equal(0);
      expect(res.json.result).to.include({ runId: 'run-live', previousState: 'running', state: 'cancelled', cancelledBy: 'runner' });
      expect(res.json.result.next).to.equal('sf datacloud load resume --run-id run-live');
      const aborted = f.run.readJobLog().filter((r) => r.t === 'aborted');
      expect(aborted).to.have.length(2);
      expect(existsSync(f.run.cancelFile)).to.equal(false);
      const status = await cli(['datacloud', 'load', 'status', '--runs-dir', root, '--json']);
      expect(status.code).to.equal(3);
      expect(status.json.result.state).to.equal('cancelled');
      expect(status.json.result.jobs.inFlight).to.equal(0);
    } finally {
      runner.kill();
    }
  });

  it('no runner alive and no org: marks the run cancelled and lists the jobs that may still be open', async () => {
    const root = tmpRoot();
    const f = runningRun(root, 'run-dead');
    f.heartbeat(await deadPid(), 62);
    const res = await cli(['datacloud', 'load', 'cancel', '--runs-dir', root, '--run-id', 'run-dead', '--json']);
    expect(res.code, res.stderr).to.equal(0);
    expect(res.json.result).to.include({ previousState: 'crashed', state: 'cancelled', cancelledBy: 'command' });
    expect(res.json.result.openJobs.map((j: { jobId: string }) => j.jobId)).to.deep.equal(['750000000000000002', '750000000000000003']);
    expect(f.run.readManifest().state).to.equal('cancelled');
    expect(f.run.readEvents().at(-1)?.type).to.equal('cancelled');
    const human = await cli(['datacloud', 'load', 'cancel', '--runs-dir', root, '--run-id', 'run-dead']);
    expect(human.stdout + human.stderr).to.include('may still be open').and.include('sf datacloud load resume --run-id run-dead');
  });

  it('a completed run has nothing to cancel; an unknown run id exits 1', async () => {
    const root = tmpRoot();
    const f = new RunFixture(root, { runId: 'run-done', partitionRows: [100], start: T0 });
    f.session('start', 0, 10, 'completed');
    const res = await cli(['datacloud', 'load', 'cancel', '--runs-dir', root, '--json']);
    expect(res.code).to.equal(0);
    expect(res.json.result).to.include({ state: 'completed', cancelledBy: 'none', requestedAt: null });
    expect(existsSync(f.run.cancelFile)).to.equal(false);
    const unknown = await cli(['datacloud', 'load', 'cancel', '--runs-dir', root, '--run-id', 'nope', '--json']);
    expect(unknown.code).to.equal(1);
    expect(unknown.json.name).to.equal('UnknownRunIdError');
  });

  describe('with the emulator\'s org', () => {
    let emu: Emulator;
    let org: OrgHome;
    before(async () => {
      emu = await startEmulator({ ...datasetConfig(generateDataset({ rows: 100, parents: 10, seed: 3 })) });
      org = await loginToEmulator(emu);
    });
    after(async () => emu?.close());

    it('no runner alive, --target-org: aborts the run\'s open Bulk jobs in the org, records them, and marks the run cancelled', async () => {
      const f = new RunFixture(org.runsDir, { runId: 'run-org', partitionRows: [3000], start: T0 });
      f.run.updateManifest((m) => ({ ...m, org: { username: org.username, instanceUrl: emu.url, apiVersion: '64.0' } }));
      f.session('start', 0);
      f.job({ partition: 0, rows: 1000, at: 30 });
      const create = (): string => emu.bulk.createJob({ object: 'Opportunity', operation: 'upsert', externalIdFieldName: 'External_ID__c', contentType: 'CSV' }, '64.0').id as string;
      const open1 = create();
      const open2 = create();
      const at = f.iso(40);
      f.run.appendJobLog(
        { t: 'planned', at, seq: 10, kind: 'load', partition: 0, rows: 1000, freshRows: 1000, retryRows: 0 },
        { t: 'created', at, seq: 10, jobId: open1 },
        { t: 'planned', at, seq: 11, kind: 'load', partition: 0, rows: 1000, freshRows: 1000, retryRows: 0 },
        { t: 'created', at, seq: 11, jobId: open2 }
      );
      f.heartbeat(await deadPid(), 41);
      const res = await runPlugin(['datacloud', 'load', 'cancel', '--target-org', 'emu', '--run-id', 'run-org', '--json'], org);
      expect(res.code, res.stderr).to.equal(0);
      expect(res.json.result.abortedJobs).to.deep.equal([open1, open2]);
      expect(res.json.result.openJobs).to.deep.equal([]);
      expect(emu.bulk.info(open1).state).to.equal('Aborted');
      expect(emu.bulk.info(open2).state).to.equal('Aborted');
      const aborted = f.run.readJobLog().filter((r) => r.t === 'aborted');
      expect(aborted.map((r) => r.t === 'aborted' && r.jobId)).to.deep.equal([open1, open2]);
      expect(f.run.readManifest().state).to.equal('cancelled');
    });

    it('cancels a real start in another process: the engine stops, aborts its open jobs, the run is cancelled and resumable', async () => {
      const def = join(org.home, 'cancel-live.json');
      writeFileSync(def, JSON.stringify({
        version: 1,
        source: { object: 'ExtOpportunities__dlm', keyColumn: 'ExternalId__c', parentColumn: 'AccountExternalId__c' },
        target: { object: 'Opportunity', externalIdField: 'External_ID__c', mapping: { ExternalId__c: 'External_ID__c', Name__c: 'Name', AccountExternalId__c: 'Account.External_ID__c' } },
        pacing: { partitions: 1, rowsPerJob: 10, delaySeconds: [1, 1], pollSeconds: [0.05, 0.2] },
      }));
      const before = new Set(RunDir.list(org.runsDir));
      const child = spawnPlugin(['datacloud', 'load', 'start', '--target-org', 'emu', '--definition', def, '--json'], org);
      let stdout = '';
      child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
      const exited = new Promise<number | null>((r) => child.once('close', r));
      let runId: string | undefined;
      const t0 = Date.now();
      while (!runId || !new RunDir(join(org.runsDir, runId), runId).readJobLog().some((r) => r.t === 'result')) {
        if (Date.now() - t0 > 60_000) throw new Error('start did not get going');
        runId ??= RunDir.list(org.runsDir).find((id) => !before.has(id));
        await new Promise((r) => setTimeout(r, 100));
      }
      const res = await runPlugin(['datacloud', 'load', 'cancel', '--run-id', runId, '--json'], org);
      expect(res.code, res.stderr).to.equal(0);
      expect(res.json.result).to.include({ previousState: 'running', state: 'cancelled', cancelledBy: 'runner' });
      expect(await exited).to.equal(3);
      expect(JSON.parse(stdout).result.state).to.equal('cancelled');
      const status = await runPlugin(['datacloud', 'load', 'status', '--run-id', runId, '--json'], org);
      expect(status.code).to.equal(3);
      expect(status.json.result.jobs.inFlight).to.equal(0);
      expect(status.json.result.health.next).to.equal(`sf datacloud load resume --run-id ${runId}`);
    });

    it('refuses an org that is not the run\'s', async () => {
      const f = new RunFixture(org.runsDir, { runId: 'run-other-org', partitionRows: [100], start: T0 });
      f.run.updateManifest((m) => ({ ...m, org: { username: 'someone@else.example', orgId: '00D000000000099AAA', apiVersion: '64.0' } }));
      f.session('start', 0);
      const id = emu.bulk.createJob({ object: 'Opportunity', operation: 'upsert', externalIdFieldName: 'External_ID__c', contentType: 'CSV' }, '64.0').id as string;
      f.run.appendJobLog({ t: 'planned', at: f.iso(1), seq: 1, kind: 'load', partition: 0, rows: 1, freshRows: 1, retryRows: 0 }, { t: 'created', at: f.iso(1), seq: 1, jobId: id });
      f.heartbeat(await deadPid(), 2);
      const res = await runPlugin(['datacloud', 'load', 'cancel', '--target-org', 'emu', '--run-id', 'run-other-org', '--json'], org);
      expect(res.code).to.equal(1);
      expect(res.json.name).to.equal('WrongOrgError');
      expect(emu.bulk.info(id).state).to.equal('Open');
      expect(f.run.readManifest().state).to.equal('running');
    });
  });
});
