/*
 * Shared harness of the fault, hostile-input and secrets suites (test/faults/): one emulator
 * and one logged-in HOME per suite, a dataset served under its own table name, the plugin's
 * commands as child processes, and the checks every case ends with:
 *   - completed: the emulator's target equals the source less the listed failures, field by
 *     field; `status --json` totals equal what the emulator holds; one result per job;
 *   - stopped cleanly: exit 3, a JSON error (name, message, actions) and `next` = the resume
 *     command, which is then run exactly as printed.
 * Waiting helpers poll for facts (a ledger line, a held job, a request in the emulator's log),
 * never for a wall-clock moment.
 */
import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEmulator, type Emulator, type EmulatorOptions } from '../emulator/server.js';
import { datasetConfig, opportunityDefinition, type Dataset } from '../emulator/dataset.js';
import type { DcTable } from '../emulator/config.js';
import { loginToEmulator, runPlugin, spawnPlugin, type CommandResult, type OrgHome } from './plugin.js';
import { failedNow, fold, jobLog, openRun } from './ledger.js';
import { shellWords } from './runs.js';
import { relogin } from './fault-processes.js';
import { RunDir } from '../../src/state/run-dir.js';

/** Pacing that keeps cases short: fast polls and retries. */
export const FAST = { pollSeconds: [0.05, 0.3], retryDelaysSeconds: [0.05, 0.1, 0.2] };

export type Fields = Record<string, string>;

export class FaultHarness {
  /** The token the test HOME is logged in with (the emulator's own, unless a case rotated it). */
  private readonly token: string;

  private constructor(public readonly emu: Emulator, public readonly org: OrgHome) {
    this.token = emu.token;
  }

  public static async start(options: EmulatorOptions = {}): Promise<FaultHarness> {
    const emu = await startEmulator({ timeScale: 500, ...options });
    const org = await loginToEmulator(emu);
    return new FaultHarness(emu, org);
  }

  public async close(): Promise<void> {
    await this.emu.close();
  }

  /** Back to a clean org: no faults, holds, rules, expiry, full limits, the original token; the target store emptied. */
  public async reset(): Promise<void> {
    if (this.emu.token !== this.token || this.relogged) {
      this.emu.configure({ auth: { token: this.token } });
      await relogin(this.org, this.emu.url, this.token);
      this.relogged = false;
    }
    this.emu.limits.set('DailyApiRequests', 5_000_000, 5_000_000);
    this.emu.limits.set('DailyBulkApiBatches', 15_000, 15_000);
    this.emu.configure({
      faults: [],
      bulk: { rowRules: [], jobFailures: [], hold: false, holdAfterJobs: null },
      dataCloud: { holdQueries: false, runningPolls: 0, querySqlEnabled: true, maxRowLimit: 50_000, queryv2BatchRows: 4_000 },
    });
    delete this.emu.config.auth.sessionExpiresAfter;
    this.emu.authenticatedCalls = 0;
    this.emu.target.clear();
    await this.abortOpenJobs();
  }

  /** Serve a table (a generated dataset's, or a hand-made one) and write a definition file for it. */
  public serve(name: string, ds: Dataset | { table: DcTable; sobjects?: Dataset['sobjects'] }, pacing: Record<string, unknown> = {}, edit?: (def: Record<string, any>) => void): string {
    if ('options' in ds) this.emu.configure(datasetConfig(ds));
    else this.emu.configure({ ...(ds.sobjects ? { sobjects: ds.sobjects } : {}), dataCloud: { tables: { [ds.table.name]: ds.table } } });
    this.emu.target.clear();
    const def = { ...opportunityDefinition(ds.table.name, { ...FAST, ...pacing }), name } as Record<string, any>;
    edit?.(def);
    return this.writeDefinition(name, def);
  }

  private relogged = false;

  /** Log the test HOME in again with the emulator's current token ("sf org login access-token"). */
  public async loginAgain(): Promise<void> {
    await relogin(this.org, this.emu.url, this.emu.token);
    this.relogged = true;
  }

  public writeDefinition(name: string, def: unknown): string {
    const file = join(this.org.home, `${name}.json`);
    writeFileSync(file, typeof def === 'string' ? def : JSON.stringify(def, null, 2));
    return file;
  }

  public plugin(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs?: number): Promise<CommandResult> {
    return runPlugin(args, { ...this.org, env: { ...this.org.env, ...env } }, timeoutMs);
  }

  public start(def: string, more: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<CommandResult> {
    return this.plugin(['datacloud', 'load', 'start', '-o', 'emu', '--definition', def, ...more, '--json'], env);
  }

  public resume(runId: string, env: NodeJS.ProcessEnv = {}): Promise<CommandResult> {
    return this.plugin(['datacloud', 'load', 'resume', '-o', 'emu', '--run-id', runId, '--json'], env);
  }

  public status(runId: string): Promise<CommandResult> {
    return this.plugin(['datacloud', 'load', 'status', '--run-id', runId, '--json']);
  }

  /** Run a printed `sf …` command line as it is (without the leading `sf`), adding --json. */
  public runPrinted(line: string, env: NodeJS.ProcessEnv = {}): Promise<CommandResult> {
    const words = shellWords(line);
    expect(words[0], line).to.equal('sf');
    return this.plugin([...words.slice(1), '--json'], env);
  }

  public run(runId: string): RunDir {
    return openRun(this.org.runsDir, runId);
  }

  /** Start `start` as a child process (for cases that act while it runs); the run appears in the runs dir. */
  public spawnStart(def: string, env: NodeJS.ProcessEnv = {}): Spawned {
    const before = new Set(safeList(this.org.runsDir));
    const child = spawnPlugin(['datacloud', 'load', 'start', '-o', 'emu', '--definition', def, '--json'], { ...this.org, env: { ...this.org.env, ...env } });
    return new Spawned(child, () => safeList(this.org.runsDir).find((id) => !before.has(id)), this);
  }

  // ---------------------------------------------------------------- checks

  /** The emulator's target equals `expected` (key → fields) less `failedKeys`, field by field, and holds nothing else. */
  public expectTarget(expected: Map<string, Fields>, failedKeys: Iterable<string>, label = ''): void {
    const failed = new Set(failedKeys);
    const table = this.emu.target.table('Opportunity');
    let want = 0;
    for (const [key, fields] of expected) {
      if (failed.has(key)) {
        expect(table.get(key), `${label} failed row ${key} is not in the target`).to.equal(undefined);
        continue;
      }
      want++;
      const rec = table.get(key);
      expect(rec, `${label} row ${JSON.stringify(key).slice(0, 80)} is in the target`).to.not.equal(undefined);
      expect(rec!.fields, `${label} row ${JSON.stringify(key).slice(0, 80)}`).to.deep.equal(fields);
    }
    expect(this.emu.target.summary('Opportunity').rows, `${label} the target holds only the source's rows`).to.equal(want);
  }

  /** status --json of the run: totals equal what the ledger says and what the emulator holds; the ledger adds up. */
  public async expectStatusMatchesEmulator(runId: string, label = ''): Promise<any> {
    const st = await this.status(runId);
    expect(st.json, `${label} status is JSON: ${st.stdout.slice(0, 300)}`).to.be.an('object');
    const s = st.json.result;
    expect(s.totals.loaded, `${label} status loaded = records the emulator holds`).to.equal(this.emu.target.summary('Opportunity').rows);
    expect(s.totals.read).to.equal(s.totals.loaded + s.totals.failed + s.totals.pending);
    const run = this.run(runId);
    expect(s.totals.failed, `${label} status failed = rows in the failure file`).to.equal(failedNow(run).length);
    const results = jobLog(run).filter((r) => r.t === 'result');
    expect(new Set(results.map((r) => r.seq)).size, `${label} one result per job`).to.equal(results.length);
    expect(fold(run).problems(), label).to.deep.equal([]);
    return s;
  }

  /** A clean stop: exit 3, a JSON error naming the fault, actions, `next` = the resume command. */
  public expectCleanStop(res: CommandResult, error: { name: string | RegExp; message?: RegExp }): { runId: string; next: string } {
    const context = `exit ${res.code}\n${res.stdout.slice(0, 3000)}\n${res.stderr.slice(-3000)}`;
    expect(res.code, context).to.equal(3);
    const r = res.json?.result;
    expect(r, context).to.be.an('object');
    expect(r.error, context).to.be.an('object');
    if (typeof error.name === 'string') expect(r.error.name, context).to.equal(error.name);
    else expect(r.error.name, context).to.match(error.name);
    if (error.message) expect(r.error.message, context).to.match(error.message);
    expect(r.error.actions, context).to.be.an('array').that.is.not.empty;
    expect(r.next, context).to.equal(`sf datacloud load resume -o emu --run-id ${r.runId}`);
    return { runId: r.runId, next: r.next };
  }

  /**
   * Let only the next `n` closed jobs run; later ones stay UploadComplete until released
   * (`holdAfterJobs: null`). The emulator counts closed jobs since it started, so the switch is
   * set relative to its count (read from its private counter: the emulator has no public one).
   */
  public holdAfter(n: number): void {
    const started = (this.emu.bulk as unknown as { started: number }).started;
    expect(started, 'the emulator counts started jobs').to.be.a('number');
    this.emu.configure({ bulk: { holdAfterJobs: started + n } });
  }

  /** Resolves once a closed job is held by holdAfter/hold. */
  public async heldJob(): Promise<void> {
    await until(() => (this.emu.bulk.inspectJobs().some((j) => j.held) ? true : undefined), 180_000, 'a held job');
  }

  /** Abort every job left Open in the emulator (so that one case's leftovers never look like the next case's orphans). */
  public async abortOpenJobs(): Promise<void> {
    for (const id of this.openJobs()) {
      await fetch(`${this.emu.url}/services/data/v64.0/jobs/ingest/${id}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${this.emu.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ state: 'Aborted' }),
      });
    }
  }

  /** How many org jobs the emulator has made so far (a mark for `openJobs`). */
  public jobMark(): number {
    return this.emu.bulk.inspectJobs().length;
  }

  /** Jobs left Open in the emulator, of those made after `mark`. */
  public openJobs(mark = 0): string[] {
    return this.emu.bulk.inspectJobs().slice(mark).filter((j) => j.state === 'Open' && !j.deleted).map((j) => j.id);
  }
}

/** Expected Opportunity fields of a generated dataset's rows under `opportunityDefinition` (null → '', as #N/A clears). */
export function expectedOpportunities(ds: Dataset): Map<string, Fields> {
  const out = new Map<string, Fields>();
  const cell = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
  for (const r of ds.table.rows) {
    out.set(String(r.ExternalId__c), {
      External_ID__c: cell(r.ExternalId__c),
      Name: cell(r.Name__c),
      StageName: cell(r.StageName__c),
      CloseDate: cell(r.CloseDate__c),
      Amount: cell(r.Amount__c),
      'Account.External_ID__c': cell(r.AccountExternalId__c),
      ...('Description__c' in r ? { Description: cell(r.Description__c) } : {}),
    });
  }
  return out;
}

export class Spawned {
  public stdout = '';
  public stderr = '';
  public readonly closed: Promise<number | null>;
  private exited = false;

  public constructor(public readonly child: ChildProcess, private readonly find: () => string | undefined, private readonly h: FaultHarness) {
    child.stdout?.on('data', (d: Buffer) => (this.stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.closed = new Promise((r) => child.once('close', (code) => r(code)));
    void this.closed.then(() => (this.exited = true));
  }

  /** The run's id, once its directory exists. */
  public async runId(): Promise<string> {
    return until(() => this.find() ?? (this.exited ? fail(`start ended before creating a run: ${this.stderr.slice(-2000)}`) : undefined));
  }

  /** Resolves once the run's ledger holds a record matching `pred`. */
  public async ledger(pred: (r: any) => boolean, what = 'a ledger record'): Promise<void> {
    const run = this.h.run(await this.runId());
    await until(() => (jobLog(run).some(pred) ? true : this.exited ? fail(`start ended before ${what}: ${this.stderr.slice(-2000)}`) : undefined));
  }

  public async result(): Promise<CommandResult> {
    const code = await this.closed;
    let json: any;
    try {
      json = JSON.parse(this.stdout);
    } catch {
      json = undefined;
    }
    return { code, stdout: this.stdout, stderr: this.stderr, json };
  }
}

function fail(message: string): never {
  throw new Error(message);
}

function safeList(dir: string): string[] {
  try {
    return RunDir.list(dir);
  } catch {
    return [];
  }
}

/** Poll `fn` until it returns a value (not undefined); an exception from `fn` other than a read error ends the wait. */
export async function until<T>(fn: () => T | undefined, timeoutMs = 180_000, what = 'a condition'): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Read a file as text, or '' if it is not there. */
export function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Print a suite's case count and how they ended, once it has run (issue 12 asks the CI log to
 * show each suite's count). Call as `after(function () { printCaseCount(this); })` in the suite.
 */
export function printCaseCount(ctx: Mocha.Context): void {
  const suite = ctx.test?.parent;
  if (!suite) return;
  const tests: Mocha.Test[] = [];
  const walk = (s: Mocha.Suite): void => {
    tests.push(...s.tests);
    s.suites.forEach(walk);
  };
  walk(suite);
  const n = (state: string): number => tests.filter((t) => t.state === state).length;
  process.stdout.write(`\n  [case count] ${suite.title.split(':')[0]}: ${tests.length} cases, ${n('passed')} passed, ${n('failed')} failed, ${tests.filter((t) => t.isPending()).length} pending\n`);
}
