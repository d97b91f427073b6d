/*
 * Issue 10: every hint a stopped, a partial and a crashed run prints works when pasted as
 * it is. Each hint is taken verbatim from the command's own output (text and --json `next`),
 * split like a shell would, and run (with `sf` standing for this plugin's bin/run.js).
 * Runs are held with the emulator's switches, never raced.
 */
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '../emulator/server.js';
import { generateDataset, datasetConfig, opportunityDefinition } from '../emulator/dataset.js';
import { loginToEmulator, runPlugin, spawnPlugin, type CommandResult, type OrgHome } from '../helpers/plugin.js';
import { RunDir } from '../../src/state/run-dir.js';
import { jobLog, openRun } from '../helpers/ledger.js';

/** A hint as printed ("sf datacloud load resume -o emu --run-id X"), run through bin/run.js. */
function paste(hint: string, org: OrgHome, extra: string[] = []): Promise<CommandResult> {
  const words = hint.match(/'[^']*'|\S+/g)!.map((w) => w.replace(/^'(.*)'$/, '$1'));
  expect(words[0], hint).to.equal('sf');
  return runPlugin([...words.slice(1), ...extra], org);
}

/** The "Next: …" line of a command's text output. */
function nextLine(out: string): string {
  const m = /Next: (sf datacloud load .+)$/m.exec(out);
  expect(m, out.slice(-1500)).to.not.equal(null);
  return m![1].trim();
}

describe('issue 10: every hint is runnable as printed', function () {
  this.timeout(600_000);
  let emu: Emulator;
  let org: OrgHome;
  let def: string;
  const ds = generateDataset({ rows: 3_000, parents: 100, seed: 41, shuffle: true });

  before(async () => {
    emu = await startEmulator({ timeScale: 500, ...datasetConfig(ds) });
    org = await loginToEmulator(emu);
    def = join(org.home, 'hints.json');
    writeFileSync(def, JSON.stringify(opportunityDefinition('ExtOpportunities__dlm', { rowsPerJob: 500, pollSeconds: [0.05, 0.2], retryDelaysSeconds: [0.05] })));
  });
  after(async () => emu?.close());
  afterEach(() => emu.configure({ bulk: { rowRules: [], hold: false, holdAfterJobs: null as unknown as number } }));

  async function startHeld(): Promise<{ runId: string; child: ReturnType<typeof spawnPlugin>; closed: Promise<number | null>; out: () => string }> {
    // One more job may run (the count is over the emulator's life); then the run cannot finish: it is surely still going when stopped.
    emu.configure({ bulk: { holdAfterJobs: emu.bulk.inspectJobs().length + 1 } });
    const before = new Set(RunDir.list(org.runsDir));
    const child = spawnPlugin(['datacloud', 'load', 'start', '-o', 'emu', '--definition', def], org);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const closed = new Promise<number | null>((r) => child.once('close', r));
    let runId: string | undefined;
    for (let i = 0; i < 2400; i++) {
      runId = RunDir.list(org.runsDir).find((x) => !before.has(x));
      if (runId && jobLog(openRun(org.runsDir, runId)).some((r) => r.t === 'result')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(runId).to.be.a('string');
    return { runId: runId!, child, closed, out: () => out };
  }

  it('a stopped run (Ctrl-C): its "Next:" resume line, pasted, finishes the load', async () => {
    const { runId, child, closed, out } = await startHeld();
    child.kill('SIGINT');
    expect(await closed).to.equal(3);
    const hint = nextLine(out());
    expect(hint).to.equal(`sf datacloud load resume -o emu --run-id ${runId}`);
    emu.configure({ bulk: { holdAfterJobs: null as unknown as number } });
    const res = await paste(hint, org, ['--json']);
    expect(res.code, res.stderr.slice(-2000)).to.equal(0);
    expect(res.json.result.totals.loaded).to.equal(3_000);
  });

  it('a crashed run (kill -9): status says so, and its next command, pasted, finishes the load', async () => {
    const { runId, child, closed } = await startHeld();
    child.kill('SIGKILL');
    await closed;
    const st = await runPlugin(['datacloud', 'load', 'status', '--run-id', runId], org);
    expect(st.code).to.equal(3);
    expect(st.stdout).to.match(/crashed/);
    const hint = nextLine(st.stdout);
    const stj = await runPlugin(['datacloud', 'load', 'status', '--run-id', runId, '--json'], org);
    expect(stj.json.result.health.next).to.equal(hint);
    emu.configure({ bulk: { holdAfterJobs: null as unknown as number } });
    const res = await paste(hint, org, ['--json']);
    expect(res.code, res.stderr.slice(-2000)).to.equal(0);
    expect(res.json.result.totals.loaded).to.equal(3_000);
  });

  it('a partial run (failed rows): the retry-failures hint of start and of status, pasted, loads them once the cause is fixed', async () => {
    emu.target.clear();
    emu.configure({ bulk: { rowRules: [{ name: 'v', code: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: 'Amount must be reviewed', rate: 0.02 }] } });
    const first = await runPlugin(['datacloud', 'load', 'start', '-o', 'emu', '--definition', def, '--json'], org);
    expect(first.code).to.equal(2);
    const runId = first.json.result.runId;
    expect(first.json.result.next).to.equal(`sf datacloud load retry-failures -o emu --run-id ${runId}`);
    const st = await runPlugin(['datacloud', 'load', 'status', '--run-id', runId], org);
    expect(st.code).to.equal(2);
    expect(nextLine(st.stdout)).to.equal(first.json.result.next);
    emu.configure({ bulk: { rowRules: [] } });
    const res = await paste(first.json.result.next, org, ['--json']);
    expect(res.code, res.stderr.slice(-2000)).to.equal(0);
    expect(res.json.result.totals.failed).to.equal(0);
    expect(emu.target.summary('Opportunity').rows).to.equal(3_000);
  });

  it('a run that is still going: its status hint (status --wait), pasted, parses and waits', async () => {
    const { runId, child, closed } = await startHeld();
    const st = await runPlugin(['datacloud', 'load', 'status', '--run-id', runId, '--json'], org);
    expect(st.code).to.equal(4);
    const hint = st.json.result.health.next as string;
    expect(hint).to.match(/^sf datacloud load status --run-id \S+ --wait \d+$/);
    emu.configure({ bulk: { holdAfterJobs: null as unknown as number } });
    const res = await paste(hint, org, ['--json']);
    expect(res.code, res.stderr.slice(-1000)).to.equal(0);
    expect(res.json.result.state).to.equal('completed');
    expect(await closed).to.equal(0);
    void child;
  });
});
