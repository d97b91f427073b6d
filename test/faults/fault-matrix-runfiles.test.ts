/*
 * Issue 12, suite 1 (second part): faults of the run's own files and of jobs the run left in
 * the org, through the plugin's commands against the emulator.
 *
 *   - the run directory turns unwritable mid-run: every file and directory of it made immutable
 *     (chattr +i: the tests run as root, and root writes through permission bits, not through the
 *     immutable flag);
 *   - the disk fills mid-run: the runs directory is a 1 MB tmpfs in a mount namespace of its own
 *     (nothing is mounted on the machine), filled up once the first job's result is recorded;
 *   - orphans: a job created just before a kill whose id never reached the log is aborted on
 *     resume (crash point after-create); an Open job of the same user and object that the run
 *     cannot tell from its own is never aborted; one it can (created before the run, or by
 *     another user) is left alone while the run's own orphan is aborted.
 * Both file cases hold the run (bulk.holdAfterJobs) while the files change, then release it:
 * nothing depends on how fast the machine is. A case the machine cannot set up says why and is
 * skipped.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { generateDataset } from '../emulator/dataset.js';
import { expectedOpportunities, FaultHarness, until, printCaseCount } from '../helpers/fault-harness.js';
import { chattr, PrivateTmpfs, runPluginWrapped } from '../helpers/fault-processes.js';
import { failedNow, jobLog, openRun } from '../helpers/ledger.js';
import { RunDir } from '../../src/state/run-dir.js';
import type { CommandResult } from '../helpers/plugin.js';

/** Every file and directory under `dir`, deepest first. */
function tree(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tree(p));
    out.push(p);
  }
  return out;
}

describe('fault matrix (issue 12), run files and orphans: stopped cleanly and resumable, or left alone when not ours', function () {
  after(function () {
    printCaseCount(this);
  });
  this.timeout(900_000);
  let h: FaultHarness;
  let cases = 0;
  const ds = generateDataset({ rows: 3_000, parents: 120, seed: 13, shuffle: true });
  const expected = expectedOpportunities(ds);
  const PACING = { rowsPerJob: 250, maxConcurrency: 2 };

  before(async () => {
    h = await FaultHarness.start();
  });
  after(async () => {
    console.log(`      fault matrix, run files and orphans: ${cases} cases`);
    await h?.close();
  });
  afterEach(async () => h.reset());

  async function completed(res: CommandResult, label: string, runsDir = h.org.runsDir): Promise<void> {
    const context = `${label}: exit ${res.code}\n${res.stdout.slice(0, 2000)}\n${res.stderr.slice(-3000)}`;
    expect(res.json?.result?.state, context).to.equal('completed');
    expect(res.code, context).to.equal(0);
    const run = openRun(runsDir, res.json.result.runId);
    expect(failedNow(run)).to.deep.equal([]);
    h.expectTarget(expected, [], label);
    if (runsDir === h.org.runsDir) await h.expectStatusMatchesEmulator(run.runId, label);
    const results = jobLog(run).filter((r) => r.t === 'result');
    expect(new Set(results.map((r) => r.seq)).size, `${label}: one result per job`).to.equal(results.length);
    cases++;
  }

  /** Hold the run after its first job: resolves once that job's result is recorded and the next job is held. */
  async function heldAfterFirstResult(jobsFile: () => string, exited: () => boolean): Promise<void> {
    await until(() => (readLines(jobsFile()).some((l) => l.includes('"t":"result"')) ? true : exited() ? fail('start ended early') : undefined), 180_000, 'the first result');
    await h.heldJob();
  }

  describe('the run directory', () => {
    it('turns unwritable mid-run (every file immutable): exit 3 RunFilesUnwritableError, what was recorded is intact; writable again, the printed resume finishes', async function () {
      const def = h.serve('readonly', ds, PACING);
      const mark = h.jobMark();
      h.holdAfter(1);
      const s = h.spawnStart(def);
      const runId = await s.runId();
      const run = h.run(runId);
      let exited = false;
      void s.closed.then(() => (exited = true));
      await heldAfterFirstResult(() => run.jobLogFile, () => exited);
      // Directories first (then nothing in them can be created, renamed or deleted), then every file.
      const dirs = [run.dir, ...tree(run.dir).filter((p) => statSync(p).isDirectory())];
      let refused = chattr('+i', dirs);
      const paths = [...dirs, ...tree(run.dir).filter((p) => !statSync(p).isDirectory())];
      refused ??= chattr('+i', paths);
      if (refused) {
        console.log(`      skipped: ${refused}`);
        h.emu.configure({ bulk: { holdAfterJobs: null } });
        await s.closed;
        this.skip();
      }
      let res: CommandResult;
      let ledgerBefore: Buffer;
      try {
        ledgerBefore = readFileSync(run.jobLogFile);
        h.emu.configure({ bulk: { holdAfterJobs: null } });
        res = await s.result();
      } finally {
        chattr('-i', paths);
      }
      const stop = h.expectCleanStop(res, { name: 'RunFilesUnwritableError', message: /could not be written/ });
      expect(res.json.result.error.actions.join(' ')).to.match(/writable/).and.to.match(/resume/);
      expect(readFileSync(run.jobLogFile).subarray(0, ledgerBefore.length).equals(ledgerBefore), 'the ledger recorded before is intact').to.equal(true);
      const st = await h.status(runId);
      expect(st.code, 'status: needs resume').to.equal(3);
      await completed(await h.runPrinted(stop.next), 'read-only run directory');
      expect(h.openJobs(mark), 'no Open job left in the org').to.deep.equal([]);
    });

    it('the disk fills mid-run (a 1 MB tmpfs filled up): exit 3 RunFilesUnwritableError naming ENOSPC, the ledger intact; space freed, the printed resume finishes', async function () {
      const mountPoint = mkdtempSync(join(h.org.home, 'tmpfs-'));
      const fs = await PrivateTmpfs.create(mountPoint, 1024);
      if (typeof fs === 'string') {
        console.log(`      skipped: a private tmpfs cannot be mounted here: ${fs}`);
        this.skip();
      }
      const tmpfs = fs;
      try {
        const runsDir = join(mountPoint, 'runs');
        const env = { ...h.org.env, SF_DATACLOUD_LOAD_DIR: runsDir };
        const inside = (args: string[]): Promise<CommandResult> => runPluginWrapped(tmpfs.wrapper, [...args, '--json'], env);
        mkdirSync(tmpfs.outside('runs'), { recursive: true });
        const def = h.serve('diskfull', ds, PACING);
        const mark = h.jobMark();
        h.holdAfter(1);
        const started = inside(['datacloud', 'load', 'start', '-o', 'emu', '--definition', def]);
        let exited = false;
        void started.then(() => (exited = true));
        const runId = await until(() => (safeList(tmpfs.outside('runs'))[0] ?? (exited ? fail('start ended early') : undefined)), 180_000, 'the run directory');
        const jobsFile = tmpfs.outside('runs', runId, 'jobs.ndjson');
        await heldAfterFirstResult(() => jobsFile, () => exited);
        const ledgerBefore = readFileSync(jobsFile);
        // Fill the tmpfs to the last byte.
        const filler = tmpfs.outside('filler');
        const fd = openSync(filler, 'w');
        const chunk = Buffer.alloc(4096, 120);
        try {
          for (;;) writeSync(fd, chunk);
        } catch (err) {
          expect((err as NodeJS.ErrnoException).code).to.equal('ENOSPC');
        }
        try {
          for (;;) writeSync(fd, chunk, 0, 1);
        } catch {
          // full to the byte
        }
        closeSync(fd);
        h.emu.configure({ bulk: { holdAfterJobs: null } });
        const res = await started;
        const stop = h.expectCleanStop({ ...res, json: res.json }, { name: 'RunFilesUnwritableError', message: /ENOSPC/ });
        expect(res.json.result.error.actions.join(' ')).to.match(/disk space/).and.to.match(/resume/);
        expect(readFileSync(jobsFile).subarray(0, ledgerBefore.length).equals(ledgerBefore), 'the ledger recorded before is intact').to.equal(true);
        unlinkSync(filler);
        const words = stop.next.split(' ').slice(1);
        await completed(await inside(words), 'disk full', tmpfs.outside('runs'));
        expect(h.openJobs(mark), 'no Open job left in the org').to.deep.equal([]);
      } finally {
        tmpfs.close();
      }
    });
  });

  describe('orphans: jobs the run created but never recorded', () => {
    const CRASH = { SF_DATACLOUD_LOAD_TEST_CRASH: 'after-create:3' };

    /** Start, killed (SIGKILL) just after its third create; returns the run and the one org job no ledger line names. */
    async function crashAfterCreate(name: string): Promise<{ runId: string; orphan: string }> {
      const def = h.serve(name, ds, { ...PACING, maxConcurrency: 1 });
      const mark = h.jobMark();
      const res = await h.start(def, [], CRASH);
      expect(res.code, `killed at the crash point: ${res.stderr.slice(-1000)}`).to.equal(null);
      const runId = RunDir.list(h.org.runsDir).at(-1)!;
      const named = new Set(jobLog(h.run(runId)).flatMap((r) => ('jobId' in r && r.jobId ? [r.jobId] : [])));
      const unnamed = h.openJobs(mark).filter((id) => !named.has(id));
      expect(unnamed, 'one Open job in the org that the ledger does not name').to.have.length(1);
      return { runId, orphan: unnamed[0] };
    }

    async function foreignJob(createdById?: string): Promise<string> {
      const res = await fetch(`${h.emu.url}/__emulator/jobs/ingest`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ object: 'Opportunity', operation: 'upsert', externalIdFieldName: 'External_ID__c', lineEnding: 'LF', ...(createdById ? { createdById } : {}) }),
      });
      expect(res.status).to.equal(200);
      return ((await res.json()) as { id: string }).id;
    }
    const stateOf = (id: string): string | undefined => h.emu.bulk.inspectJob(id)?.state;

    it('a job created just before a kill, its id never logged: resume finds it, aborts it, records it; none left Open', async () => {
      const mark = h.jobMark();
      const { runId, orphan } = await crashAfterCreate('orphan');
      const st = await h.status(runId);
      expect(st.code).to.equal(3);
      expect(st.json.result.health.next).to.equal(`sf datacloud load resume -o emu --run-id ${runId}`);
      const done = await h.runPrinted(st.json.result.health.next);
      await completed(done, 'orphan');
      expect(done.json.result.resumed.orphansAborted).to.equal(1);
      expect(stateOf(orphan)).to.equal('Aborted');
      expect(jobLog(h.run(runId)).some((r) => r.t === 'orphan' && r.action === 'aborted' && r.jobId === orphan)).to.equal(true);
      expect(h.openJobs(mark)).to.deep.equal([]);
    });

    it('an Open job of the same user and object made after the kill cannot be told from the run\'s own: neither is aborted, the run says so and completes', async () => {
      const { runId, orphan } = await crashAfterCreate('orphan-ambiguous');
      const foreign = await foreignJob(); // same user (the emulator's), same object, upsert
      const done = await h.resume(runId);
      await completed(done, 'ambiguous orphan');
      expect(stateOf(foreign), 'the foreign job is never aborted').to.equal('Open');
      expect(done.json.result.resumed.orphansAborted).to.equal(0);
      expect(stateOf(orphan), 'the run\'s own orphan is left too: it cannot be shown to be the run\'s').to.equal('Open');
      const run = h.run(runId);
      expect(jobLog(run).filter((r) => r.t === 'orphan').map((r) => (r as { action: string }).action)).to.deep.equal(['left']);
      expect(run.readEvents().some((e) => e.type === 'orphans' && e.message.includes(foreign) && e.message.includes(orphan))).to.equal(true);
    });

    it('an Open job of the same user made before the run, and one of another user: both left alone, the run\'s own orphan aborted', async () => {
      const before = await foreignJob();
      const other = await foreignJob('005000000000002AAA');
      const { runId, orphan } = await crashAfterCreate('orphan-told-apart');
      const otherAfter = await foreignJob('005000000000003AAA');
      const done = await h.resume(runId);
      await completed(done, 'orphan told apart');
      const said = h.run(runId).readEvents().filter((e) => e.type === 'orphans').map((e) => e.message);
      expect(stateOf(orphan), `the run's own orphan is aborted (events: ${said.join(' | ')})`).to.equal('Aborted');
      expect([stateOf(before), stateOf(other), stateOf(otherAfter)], 'foreign jobs untouched').to.deep.equal(['Open', 'Open', 'Open']);
    });
  });
});

function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n');
  } catch {
    return [];
  }
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => !n.startsWith('.'));
  } catch {
    return [];
  }
}

function fail(message: string): never {
  throw new Error(message);
}
