/*
 * The crash suite (issue 8): one load with lock errors and a validation rule, killed with
 * SIGKILL at seeded random moments (after the k-th ledger record, k drawn from the seed),
 * and at the crash points a random kill rarely hits; each time resumed. A power-loss
 * simulation cuts each log inside its last append (what fsync-before-acknowledge leaves
 * after a power loss), then resumes. After every step: every status file parses, status
 * --json is consistent; at the end: the emulator's target equals the source less the
 * listed failures, status totals equal what the emulator holds, no row counted twice.
 *
 * The moments are positions in the run's own progress (ledger records), not wall time,
 * so a slow machine only makes a case slower. Replay a failing case with CRASH_SEED=<seed>.
 */
import { expect } from 'chai';
import { existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '../emulator/server.js';
import { generateDataset, datasetConfig, opportunityDefinition } from '../emulator/dataset.js';
import { loginToEmulator, runPlugin, spawnPlugin, type OrgHome } from '../helpers/plugin.js';
import { failedNow, fold, jobLog, openRun } from '../helpers/ledger.js';
import { RunDir } from '../../src/state/run-dir.js';
import type { RunDir as Run } from '../../src/state/run-dir.js';

const ROWS = 12_000;
const SEED = Number(process.env.CRASH_SEED ?? 20261201);
const RULES = [
  { name: 'validation', code: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: 'Amount must be reviewed', rate: 0.01 },
  { name: 'other-traffic', code: 'UNABLE_TO_LOCK_ROW', message: 'unable to obtain exclusive access to this record or 1 records: 001000000000001AAA', rate: 0.04, perAttempt: true },
];

/** A small seeded PRNG (mulberry32), so every case can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('crash suite: kill -9 and power loss at seeded moments, then resume', function () {
  this.timeout(1_800_000);
  let emu: Emulator;
  let org: OrgHome;
  let def: string;
  let reference: { target: Map<string, string>; failed: string[] };
  const ds = generateDataset({ rows: ROWS, parents: 400, seed: 5, shuffle: true, skew: { hotParents: 1, hotShare: 0.05 } });
  const random = prng(SEED);
  let cases = 0;

  before(async () => {
    emu = await startEmulator({ timeScale: 500, ...datasetConfig(ds) });
    org = await loginToEmulator(emu);
    def = join(org.home, 'crash.json');
    writeFileSync(def, JSON.stringify(opportunityDefinition('ExtOpportunities__dlm', { rowsPerJob: 500, partitions: 4, maxConcurrency: 4, pollSeconds: [0.05, 0.2], retryDelaysSeconds: [0.05, 0.1, 0.2, 0.4] })));
  });
  after(async () => {
    console.log(`      crash suite: ${cases} cases (seed ${SEED})`);
    await emu?.close();
  });
  beforeEach(() => {
    emu.target.clear();
    emu.configure({ bulk: { rowRules: RULES } });
  });

  function target(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [k, r] of emu.target.table('Opportunity')) out.set(k, JSON.stringify(r.fields));
    return out;
  }

  /** status --json parses, matches the ledger's own check, and says what it should. */
  async function checkStatus(run: Run, expectState?: string): Promise<any> {
    const st = await runPlugin(['datacloud', 'load', 'status', '--run-id', run.runId, '--json'], org);
    expect(st.json, `status output is JSON: ${st.stdout.slice(0, 300)} ${st.stderr.slice(-500)}`).to.not.equal(undefined);
    for (const f of [run.manifestFile]) JSON.parse(readFileSync(f, 'utf8'));
    if (st.code === 1) expect.fail(`status failed: ${JSON.stringify(st.json).slice(0, 800)}`);
    const s = st.json.result;
    expect(s.totals.read).to.equal(s.totals.loaded + s.totals.failed + s.totals.pending);
    if (expectState) expect(s.state).to.equal(expectState);
    return s;
  }

  async function finish(run: Run, label: string): Promise<void> {
    const res = await runPlugin(['datacloud', 'load', 'resume', '-o', 'emu', '--run-id', run.runId, '--json'], org);
    expect(res.json?.result?.state, `${label}: ${JSON.stringify(res.json?.result?.error ?? res.json ?? null)} ${res.stderr.slice(-3000)} (run ${run.dir})`).to.equal('completed');
    const s = await checkStatus(run, 'completed');
    const failed = failedNow(run).map((f) => String(f.key)).sort();
    expect(failed, `${label}: the same rows failed`).to.deep.equal(reference.failed);
    expect(s.totals.loaded, `${label}: loaded = rows the emulator holds`).to.equal(emu.target.summary('Opportunity').rows);
    expect(s.totals.failed).to.equal(failed.length);
    expect(target(), `${label}: the target equals the source less the failures`).to.deep.equal(reference.target);
    const results = jobLog(run).filter((r) => r.t === 'result');
    expect(new Set(results.map((r) => r.seq)).size, `${label}: one result per job`).to.equal(results.length);
    expect(fold(run).problems(), label).to.deep.equal([]);
    cases++;
  }

  /** Byte offset in jobs.ndjson after the last result whose job CSV was deleted (that result was fsynced first). */
  function durableEnd(run: Run): number {
    const buf = readFileSync(run.jobLogFile);
    let end = 0;
    let from = 0;
    for (let nl = buf.indexOf(10, from); nl >= 0; from = nl + 1, nl = buf.indexOf(10, from)) {
      let rec: { t?: string; seq?: number; kind?: string };
      try {
        rec = JSON.parse(buf.subarray(from, nl).toString('utf8')) as { t?: string; seq?: number; kind?: string };
      } catch {
        continue;
      }
      // (A reject job never had a CSV: its absence proves nothing.)
      if (rec.t === 'result' && rec.kind !== 'reject' && rec.seq !== undefined && !existsSync(run.jobCsvFile(rec.seq))) end = nl + 1;
    }
    return end;
  }

  /** Start (or run `args`) and SIGKILL it once the ledger has `k` lines; returns the run. */
  async function killAfter(k: number, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ run: Run; code: number | null }> {
    const before = new Set(RunDir.list(org.runsDir));
    const child = spawnPlugin(args, { ...org, env: { ...org.env, ...env } });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((r) => child.once('close', r));
    let exited = false;
    void closed.then(() => (exited = true));
    let run: Run | undefined;
    for (;;) {
      if (!run) {
        const id = RunDir.list(org.runsDir).find((x) => !before.has(x)) ?? (args.includes('--run-id') ? args[args.indexOf('--run-id') + 1] : undefined);
        if (id) run = openRun(org.runsDir, id);
      }
      if (run) {
        let lines = 0;
        try {
          lines = readFileSync(run.jobLogFile, 'utf8').split('\n').length - 1;
        } catch {
          lines = 0;
        }
        if (lines >= k) break;
      }
      if (exited) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    if (!exited) child.kill('SIGKILL');
    const code = await closed;
    if (!run) throw new Error(`no run was created: ${stderr.slice(-2000)}`);
    return { run, code };
  }

  it('the uninterrupted run (reference)', async () => {
    const res = await runPlugin(['datacloud', 'load', 'start', '-o', 'emu', '--definition', def, '--json'], org);
    expect(res.code, res.stderr.slice(-2000)).to.equal(2);
    const run = openRun(org.runsDir, res.json.result.runId);
    reference = { target: target(), failed: failedNow(run).map((f) => String(f.key)).sort() };
    expect(reference.failed.length).to.be.greaterThan(50);
    expect(res.json.result.totals.retriedRows).to.be.greaterThan(0);
    expect(jobLog(run).length).to.be.greaterThan(60);
  });

  for (let i = 0; i < 10; i++) {
    it(`kill -9 of start at a seeded random moment #${i + 1}, then resume`, async () => {
      const k = 3 + Math.floor(random() * 120);
      const { run, code } = await killAfter(k, ['datacloud', 'load', 'start', '-o', 'emu', '--definition', def, '--json']);
      expect(code, `seed ${SEED}, case ${i + 1}, k=${k}: the kill came before the end`).to.equal(null);
      await checkStatus(run, 'crashed');
      await finish(run, `seed ${SEED} case ${i + 1} (killed after ${k} ledger lines)`);
    });
  }

  for (const point of ['after-create', 'after-failures', 'torn-result', 'after-result']) {
    it(`kill -9 at the crash point "${point}", then resume`, async () => {
      const n = 2 + Math.floor(random() * 6);
      const res = await runPlugin(['datacloud', 'load', 'start', '-o', 'emu', '--definition', def, '--json'], { ...org, env: { ...org.env, SF_DATACLOUD_LOAD_TEST_CRASH: `${point}:${n}` } });
      expect(res.code, `${point}:${n} crashed the process`).to.equal(null);
      const id = RunDir.list(org.runsDir).at(-1)!;
      const run = openRun(org.runsDir, id);
      await checkStatus(run, 'crashed');
      if (point === 'torn-result') {
        // Issue 8 case 13: the original job is gone from the org by the time of the resume (deleted, or older than the org keeps jobs).
        const f = fold(run);
        const torn = [...f.jobs.values()].find((e) => !e.result && e.jobId && e.kind !== 'reject');
        expect(torn, 'a job whose result append was torn').to.not.equal(undefined);
        const del = await fetch(`${emu.url}/services/data/v64.0/jobs/ingest/${torn!.jobId}`, { method: 'DELETE', headers: { authorization: `Bearer ${emu.token}` } });
        expect(del.status).to.equal(204);
      }
      if (point === 'after-create') {
        const before = emu.bulk.inspectJobs().filter((j) => j.state === 'Open').length;
        await finish(run, `crash point ${point}:${n}`);
        const after = emu.bulk.inspectJobs().filter((j) => j.state === 'Open').length;
        expect(after, 'the job created before the crash and never recorded was aborted').to.be.lessThan(Math.max(1, before));
        expect(jobLog(run).some((r) => r.t === 'orphan' && r.action === 'aborted')).to.equal(true);
      } else await finish(run, `crash point ${point}:${n}`);
    });
  }

  for (let i = 0; i < 3; i++) {
    it(`power loss #${i + 1}: kill -9, each log cut inside its last append, then resume`, async () => {
      const k = 10 + Math.floor(random() * 100);
      const { run, code } = await killAfter(k, ['datacloud', 'load', 'start', '-o', 'emu', '--definition', def, '--json']);
      expect(code).to.equal(null);
      // What fsync-before-acknowledge lets a power loss take: the tail of each log after its
      // last completed append. jobs.ndjson: a random byte within its last two lines, but never
      // a result whose job CSV is gone: the engine deletes jobs/<seq>.csv only after that
      // result's append was fsynced, so no power loss can take the one and keep the other. The
      // failure lines of a batch are fsynced before its result is written, so they can only
      // be lost with that result: failures.ndjson is cut only when its last batch has no
      // result left in jobs.ndjson.
      const cutTail = (file: string, lines: number, floor = 0): void => {
        const buf = readFileSync(file);
        let start = buf.length - 1;
        for (let seen = 0; start > 0; start--) if (buf[start - 1] === 10 && ++seen === lines) break;
        start = Math.max(start, floor);
        truncateSync(file, start + Math.floor(random() * (buf.length - start)));
      };
      cutTail(run.jobLogFile, 2, durableEnd(run));
      let failuresText = '';
      try {
        failuresText = readFileSync(run.failuresFile, 'utf8');
      } catch {
        failuresText = '';
      }
      const lastFailure = failuresText.trim().split('\n').at(-1);
      if (lastFailure) {
        const batch = (JSON.parse(lastFailure) as { batch: string }).batch;
        const stillRecorded = readFileSync(run.jobLogFile, 'utf8').includes(`"batch":"${batch}"`);
        if (!stillRecorded) cutTail(run.failuresFile, 1 + Math.floor(random() * 3));
      }
      await checkStatus(run);
      await finish(run, `seed ${SEED} power loss ${i + 1} (k=${k})`);
    });
  }

  for (let i = 0; i < 2; i++) {
    it(`kill -9 of retry-failures at a seeded random moment #${i + 1}, then retry-failures again`, async () => {
      emu.configure({ bulk: { rowRules: [RULES[0]] } });
      const first = await runPlugin(['datacloud', 'load', 'start', '-o', 'emu', '--definition', def, '--json'], org);
      expect(first.code).to.equal(2);
      const run = openRun(org.runsDir, first.json.result.runId);
      const lines = jobLog(run).length;
      emu.configure({ bulk: { rowRules: [] } });
      const k = lines + 2 + Math.floor(random() * 6);
      const { code } = await killAfter(k, ['datacloud', 'load', 'retry-failures', '-o', 'emu', '--run-id', run.runId, '--json']);
      expect(code, `seed ${SEED}: killed before the end`).to.equal(null);
      await checkStatus(run, 'crashed');
      for (let round = 0; round < 3; round++) {
        const r = await runPlugin(['datacloud', 'load', 'retry-failures', '-o', 'emu', '--run-id', run.runId, '--json'], org);
        expect(r.code, r.stderr.slice(-2000)).to.be.oneOf([0, 2]);
        if (r.code === 0) break;
      }
      const s = await checkStatus(run, 'completed');
      expect(s.totals.loaded).to.equal(ROWS);
      expect(s.totals.failed).to.equal(0);
      expect(emu.target.summary('Opportunity').rows).to.equal(ROWS);
      cases++;
    });
  }
});
