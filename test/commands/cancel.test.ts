/*
 * sf datacloud load cancel (run files schema version 2): with a live runner (a stand-in
 * process that holds lock.json and honours cancel.json like the engine, or one that never
 * stops), with no runner and no org, with no runner and the emulator's org (the command
 * aborts the open Bulk jobs itself), against a real start held by the emulator's
 * bulk.hold, and on a run that is already over. The command holds the run's lock while it
 * writes; a live runner's lock makes it refuse.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { RunFixture, ROOT, cli, deadPid, shellWords, standInRunner } from '../helpers/runs.js';
import { startEmulator, type Emulator } from '../emulator/server.js';
import { datasetConfig, generateDataset, opportunityDefinition } from '../emulator/dataset.js';
import { loginToEmulator, runPlugin, spawnPlugin, type OrgHome } from '../helpers/plugin.js';
import { RunDir } from '../../src/state/run-dir.js';
import { readNdjson } from '../../src/state/files.js';
import { readLock, RunLockHandle } from '../../src/state/run-lock.js';
import type { JobLogRecord } from '../../src/state/types.js';

const ajv = new Ajv({ allErrors: true, strict: false });
const statusSchema = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'schemas/status.json'), 'utf8')));
const startSchema = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'schemas/start.json'), 'utf8')));
const T0 = Date.parse('2026-01-05T09:00:00.000Z');
const ORG = 'test@example.com';

function tmpRoot(): string {
  return mkdtempSync(join(tmpdir(), 'dcl-cancel-'));
}

/** A running run with one finished job and two open org jobs (seq 2 closed, seq 3 created). */
function runningRun(root: string, runId: string, start = T0): RunFixture {
  const f = new RunFixture(root, { runId, partitionRows: [3000, 3000], start });
  f.session('start', 0);
  f.job({ partition: 0, rows: 1000, at: 30 });
  f.job({ partition: 0, rows: 1000, at: 60, stopAfter: 'closed' });
  f.job({ partition: 1, rows: 1000, at: 61, stopAfter: 'created' });
  return f.close();
}

const aborted = (f: RunFixture): string[] => f.jobLog().flatMap((r) => (r.t === 'aborted' ? [r.jobId] : []));

describe('cancel', function () {
  this.timeout(300_000);

  it('a live runner is asked to stop and the command waits until the run is cancelled', async () => {
    const root = tmpRoot();
    const f = runningRun(root, 'run-live', Date.now() - 60_000);
    const open = f.jobLog().flatMap((r) => (r.t === 'created' ? [r.jobId] : [])).slice(1);
    const runner = await standInRunner(f.run, { onCancel: 'cancel' });
    try {
      const res = await cli(['datacloud', 'load', 'cancel', '--runs-dir', root, '--json', '--wait', '1']);
      expect(res.code, res.stderr).to.equal(0);
      expect(res.json.result).to.include({ runId: 'run-live', previousState: 'running', state: 'cancelled', cancelledBy: 'runner' });
      expect(res.json.result.requestedAt).to.be.a('string');
      expect(shellWords(res.json.result.next)).to.deep.equal(['sf', 'datacloud', 'load', 'resume', '-o', ORG, '--run-id', 'run-live', '--runs-dir', root]);
      expect(await runner.exited, 'the runner stopped by itself').to.equal(0);
      expect(aborted(f)).to.deep.equal(open);
      expect(existsSync(f.run.cancelFile), 'cancel.json cleared').to.equal(false);
      expect(existsSync(f.run.lockFile), 'lock released').to.equal(false);
      const status = await cli(['datacloud', 'load', 'status', '--runs-dir', root, '--json']);
      expect(status.code).to.equal(3);
      expect(statusSchema(status.json.result), JSON.stringify(statusSchema.errors)).to.equal(true);
      expect(status.json.result.state).to.equal('cancelled');
      expect(status.json.result.jobs.inFlight).to.equal(0);
    } finally {
      await runner.stop();
    }
  });

  it('a live runner\'s lock makes it refuse to write: --wait 0 asks and returns; a runner that does not stop in time → exit 1 StillRunningError, nothing written', async () => {
    const root = tmpRoot();
    const f = runningRun(root, 'run-stubborn', Date.now() - 60_000);
    const before = readFileSync(f.run.jobLogFile, 'utf8');
    const runner = await standInRunner(f.run, { onCancel: 'ignore' });
    try {
      const asked = await cli(['datacloud', 'load', 'cancel', '--runs-dir', root, '--json', '--wait', '0']);
      expect(asked.code, asked.stderr).to.equal(0);
      expect(asked.json.result).to.include({ previousState: 'running', state: 'running', cancelledBy: 'pending' });
      expect(asked.json.result.next).to.match(/^sf datacloud load status --run-id run-stubborn .*--wait \d+/);
      expect(existsSync(f.run.cancelFile), 'the request stays for the runner').to.equal(true);

      const refused = await cli(['datacloud', 'load', 'cancel', '--runs-dir', root, '--json', '--wait', '0.05']);
      expect(refused.code, refused.stdout).to.equal(1);
      expect(refused.json.name).to.equal('StillRunningError');
      expect(refused.json.message).to.include(`pid ${runner.pid}`);
      expect(readFileSync(f.run.jobLogFile, 'utf8'), 'no abort written').to.equal(before);
      expect(f.run.readManifest().state).to.equal('running');
      expect(readLock(f.run.lockFile)?.pid, 'the runner still holds the lock').to.equal(runner.pid);
    } finally {
      await runner.stop();
    }
  });

  it('no runner alive and no org: takes the run lock (the dead runner\'s moved aside), marks the run cancelled, lists the jobs that may still be open, releases the lock', async () => {
    const root = tmpRoot();
    const f = runningRun(root, 'run-dead');
    const pid = await deadPid();
    f.lock({ pid, atS: 62 });
    const res = await cli(['datacloud', 'load', 'cancel', '--runs-dir', root, '--run-id', 'run-dead', '--json']);
    expect(res.code, res.stderr).to.equal(0);
    expect(res.json.result).to.include({ previousState: 'crashed', state: 'cancelled', cancelledBy: 'command' });
    expect(res.json.result.abortedJobs).to.deep.equal([]);
    const open = f.jobLog().flatMap((r) => (r.t === 'created' ? [{ seq: r.seq, jobId: r.jobId }] : [])).slice(1);
    expect(res.json.result.openJobs).to.deep.equal(open.map((j) => ({ ...j, reason: 'no --target-org given' })));
    expect(shellWords(res.json.result.next)).to.include.members(['resume', '-o', ORG, '--run-id', 'run-dead']);
    expect(f.run.readManifest().state).to.equal('cancelled');
    expect(f.run.readEvents().at(-1)?.type).to.equal('cancelled');
    expect(existsSync(f.run.cancelFile)).to.equal(false);
    // The command took the lock over from the dead runner (its lock moved aside) and gave it up.
    expect(existsSync(f.run.lockFile), 'lock released').to.equal(false);
    const aside = readdirSync(f.run.dir).filter((n) => n.startsWith('.lock.stale.'));
    expect(aside).to.have.length(1);
    expect(JSON.parse(readFileSync(join(f.run.dir, aside[0]), 'utf8')).pid).to.equal(pid);
    RunLockHandle.acquire(f.run.lockFile, 'resume').release();

    const status = await cli(['datacloud', 'load', 'status', '--runs-dir', root, '--json']);
    expect(status.code).to.equal(3);
    expect(status.json.result.state).to.equal('cancelled');
    const human = await cli(['datacloud', 'load', 'cancel', '--runs-dir', root, '--run-id', 'run-dead']);
    expect(human.code).to.equal(0);
    expect(human.stdout + human.stderr).to.include('may still be open').and.include(`sf datacloud load resume -o ${ORG} --run-id run-dead`);
  });

  it('a completed run has nothing to cancel; an unknown or path-like run id exits 1', async () => {
    const root = tmpRoot();
    const f = new RunFixture(root, { runId: 'run-done', partitionRows: [100], start: T0 });
    f.session('start', 0);
    f.job({ partition: 0, rows: 100, at: 5, last: true });
    f.end(10, 'completed').close();
    const [res, unknown, traversal] = await Promise.all([
      cli(['datacloud', 'load', 'cancel', '--runs-dir', root, '--json']),
      cli(['datacloud', 'load', 'cancel', '--runs-dir', root, '--run-id', 'nope', '--json']),
      cli(['datacloud', 'load', 'cancel', '--runs-dir', join(root, 'run-done', 'jobs'), '--run-id', '../../run-done', '--json']),
    ]);
    expect(res.code).to.equal(0);
    expect(res.json.result).to.include({ state: 'completed', cancelledBy: 'none', requestedAt: null, next: null });
    expect(existsSync(f.run.cancelFile)).to.equal(false);
    expect(unknown.code).to.equal(1);
    expect(unknown.json.name).to.equal('UnknownRunIdError');
    expect(traversal.code).to.equal(1);
    expect(traversal.json.name).to.equal('InvalidRunIdError');
    expect(f.run.readManifest().state).to.equal('completed');
  });

  describe('with the emulator\'s org', () => {
    let emu: Emulator;
    let org: OrgHome;
    const createJob = (): string => emu.bulk.createJob({ object: 'Opportunity', operation: 'upsert', externalIdFieldName: 'External_ID__c', contentType: 'CSV' }, '64.0').id as string;

    before(async () => {
      emu = await startEmulator({ ...datasetConfig(generateDataset({ rows: 100, parents: 10, seed: 3 })) });
      org = await loginToEmulator(emu);
    });
    after(async () => emu?.close());

    it('no runner alive, --target-org: aborts the run\'s open Bulk jobs in the org, records them, and marks the run cancelled', async () => {
      const f = new RunFixture(org.runsDir, { runId: 'run-org', partitionRows: [3000], start: T0, org: { username: org.username, orgId: undefined, instanceUrl: emu.url } });
      f.session('start', 0);
      f.job({ partition: 0, rows: 1000, at: 30 });
      const s1 = f.job({ partition: 0, rows: 1000, at: 40, stopAfter: 'intent' });
      const s2 = f.job({ partition: 0, rows: 1000, at: 41, stopAfter: 'intent' });
      const open1 = createJob();
      const open2 = createJob();
      f.run.appendJobLog({ t: 'created', at: f.iso(40), seq: s1, jobId: open1 }, { t: 'created', at: f.iso(41), seq: s2, jobId: open2 });
      f.lock({ pid: await deadPid(), atS: 42 });
      f.close();
      const res = await runPlugin(['datacloud', 'load', 'cancel', '--target-org', 'emu', '--run-id', 'run-org', '--json'], org);
      expect(res.code, res.stderr).to.equal(0);
      expect(res.json.result).to.include({ previousState: 'crashed', state: 'cancelled', cancelledBy: 'command' });
      expect(res.json.result.abortedJobs).to.deep.equal([open1, open2]);
      expect(res.json.result.openJobs).to.deep.equal([]);
      expect(emu.bulk.info(open1).state).to.equal('Aborted');
      expect(emu.bulk.info(open2).state).to.equal('Aborted');
      expect(aborted(f)).to.deep.equal([open1, open2]);
      expect(f.run.readManifest().state).to.equal('cancelled');
      expect(existsSync(f.run.lockFile)).to.equal(false);
      const status = await runPlugin(['datacloud', 'load', 'status', '--run-id', 'run-org', '--json'], org);
      expect(status.code).to.equal(3);
      expect(status.json.result.jobs).to.include({ inFlight: 0 });
    });

    it('refuses an org that is not the run\'s: exit 1 WrongOrgError, nothing aborted, nothing written', async () => {
      const f = new RunFixture(org.runsDir, { runId: 'run-other-org', partitionRows: [100], start: T0, org: { username: 'someone@else.example', orgId: '00D000000000099AAA' } });
      f.session('start', 0);
      const seq = f.job({ partition: 0, rows: 100, at: 1, stopAfter: 'intent' });
      const id = createJob();
      f.run.appendJobLog({ t: 'created', at: f.iso(1), seq, jobId: id });
      f.lock({ pid: await deadPid(), atS: 2 });
      f.close();
      const res = await runPlugin(['datacloud', 'load', 'cancel', '--target-org', 'emu', '--run-id', 'run-other-org', '--json'], org);
      expect(res.code).to.equal(1);
      expect(res.json.name).to.equal('WrongOrgError');
      expect(res.json.actions.join(' ')).to.include('someone@else.example');
      expect(emu.bulk.info(id).state).to.equal('Open');
      expect(aborted(f)).to.deep.equal([]);
      expect(f.run.readManifest().state).to.equal('running');
    });

    it('cancels a real start in another process held by bulk.hold: the engine stops, aborts its open jobs, exits 3; the printed resume finishes the run', async function () {
      // The emulator's hold switch keeps closed jobs UploadComplete, so the load is still under way when cancel runs.
      if (!('hold' in emu.config.bulk)) this.skip();
      emu.configure({ bulk: { hold: true } } as never);
      const def = join(org.home, 'cancel-live.json');
      writeFileSync(def, JSON.stringify(opportunityDefinition('ExtOpportunities__dlm', { partitions: 1, rowsPerJob: 10, pollSeconds: [0.05, 0.2] })));
      const before = new Set(RunDir.list(org.runsDir));
      const child = spawnPlugin(['datacloud', 'load', 'start', '--target-org', 'emu', '--definition', def, '--json'], org);
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((r) => child.once('close', r));
      try {
        let runId: string | undefined;
        let held: string[] = [];
        const t0 = Date.now();
        for (;;) {
          runId ??= RunDir.list(org.runsDir).find((id) => !before.has(id));
          const log = runId ? readNdjson<JobLogRecord>(join(org.runsDir, runId, 'jobs.ndjson')) : [];
          held = log.flatMap((r) => (r.t === 'closed' ? [r.jobId] : []));
          if (held.length > 0 && runId && existsSync(join(org.runsDir, runId, 'lock.json'))) break;
          if (Date.now() - t0 > 120_000) throw new Error(`start did not get a job to the org\n${stderr.slice(-2000)}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        const res = await runPlugin(['datacloud', 'load', 'cancel', '--run-id', runId!, '--json'], org);
        expect(res.code, res.stderr).to.equal(0);
        expect(res.json.result).to.include({ previousState: 'running', state: 'cancelled', cancelledBy: 'runner' });
        expect(await exited).to.equal(3);
        const start = JSON.parse(stdout).result;
        expect(startSchema(start), JSON.stringify(startSchema.errors)).to.equal(true);
        expect(start.state).to.equal('cancelled');
        for (const id of held) expect(emu.bulk.info(id).state, id).to.equal('Aborted');
        const status = await runPlugin(['datacloud', 'load', 'status', '--run-id', runId!, '--json'], org);
        expect(status.code).to.equal(3);
        expect(statusSchema(status.json.result), JSON.stringify(statusSchema.errors)).to.equal(true);
        expect(status.json.result.jobs.inFlight).to.equal(0);
        const next: string = status.json.result.health.next;
        expect(shellWords(next)).to.deep.equal(['sf', 'datacloud', 'load', 'resume', '-o', 'emu', '--run-id', runId]);

        emu.configure({ bulk: { hold: false } } as never);
        const resumed = await runPlugin([...shellWords(next).slice(1), '--json'], org);
        expect(resumed.code, resumed.stderr.slice(-2000)).to.equal(0);
        expect(startSchema(resumed.json.result), JSON.stringify(startSchema.errors)).to.equal(true);
        expect(resumed.json.result.state).to.equal('completed');
        expect(resumed.json.result.totals).to.include({ sourceRows: 100, loaded: 100, pending: 0 });
      } finally {
        emu.configure({ bulk: { hold: false } } as never);
        child.kill();
      }
    });
  });
});
