/*
 * The strategies of the lock benchmark, each on a fresh emulator with the same data, seed
 * and lock model, on the lockstep clock (lockstep.ts):
 *
 *   seed-test3/4/7/8    the seed's chains as it submitted them (seed-chains.ts), in-process;
 *   plugin-data         `sf data upsert bulk` of the rows as one CSV in source (key) order,
 *   plugin-data-sorted  … and sorted by parent as Salesforce advises: the real, pinned sf
 *                       CLI (test/fidelity/sf-cli), its own polling on the virtual clock;
 *   default             this plugin's `datacloud load start` with the default profile,
 *                       `node bin/run.js` as a user runs it.
 *
 * End-to-end time is read on the virtual clock from the strategy's start (the client
 * process's start, or the seed's first submission) to its end: the client's last call to
 * the org (its last poll or result download; after it, only an HTTP library's keep-alive
 * timers would move the clock), or for the seed, which never looks, the org finishing its
 * last job. Server time comes from the emulator's job records.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { datasetConfig, opportunityDefinition } from '../../test/emulator/dataset.js';
import { startEmulator, type Emulator } from '../../test/emulator/server.js';
import type { LockModelConfig } from '../../test/emulator/config.js';
import { isolatedEnv, loginToEmulator, ROOT } from '../../test/helpers/plugin.js';
import type { Workload } from './cells.js';
import { Lockstep } from './lockstep.js';
import { apiCalls, csvLines, jobFigures, type StrategyResult } from './measure.js';
import { runSeedChains, SEED_TESTS, type SeedTest } from './seed-chains.js';

export const STRATEGY_NAMES = ['seed-test3', 'seed-test4', 'seed-test7', 'seed-test8', 'plugin-data', 'plugin-data-sorted', 'default'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

export type RunContext = { w: Workload; lock: LockModelConfig; seed: number; log: (s: string) => void; defaultPacing?: Record<string, unknown> };

const SF_RUN = join(ROOT, 'test/fidelity/sf-cli/node_modules/@salesforce/cli/bin/run.js');

async function fresh(ctx: RunContext): Promise<{ emu: Emulator; ls: Lockstep }> {
  const emu = await startEmulator({ seed: ctx.seed, ...datasetConfig(ctx.w.ds), bulk: { lock: ctx.lock } });
  const ls = await new Lockstep(emu).listen();
  return { emu, ls };
}

export async function runStrategy(name: StrategyName, ctx: RunContext): Promise<StrategyResult> {
  const seedTest = SEED_TESTS.find((t) => t.name === name);
  if (seedTest) return runSeed(seedTest, ctx);
  if (name === 'plugin-data') return runPluginData(ctx, 'source');
  if (name === 'plugin-data-sorted') return runPluginData(ctx, 'parent');
  return runOurs(ctx);
}

async function runSeed(t: SeedTest, ctx: RunContext): Promise<StrategyResult> {
  const wall0 = Date.now();
  const { emu, ls } = await fresh(ctx);
  try {
    const req0 = emu.requests.length;
    await runSeedChains(emu, ls, csvLines(ctx.w, 'source'), t, ctx.seed);
    const f = jobFigures(emu.bulk.inspectJobs());
    const ok = f.succeeded / ctx.w.rows;
    ctx.log(`   ${t.name}: ${f.succeeded}/${ctx.w.rows} loaded, ${f.jobs} jobs, server ${f.serverSeconds.toFixed(0)} s`);
    // Fire-and-forget: its end is the org finishing its last job; no row is sent twice.
    return { name: t.name, firstPassSuccessRate: ok, finalSuccessRate: ok, simulatedSeconds: f.serverSeconds, serverSeconds: f.serverSeconds, jobs: f.jobs, lockErrors: f.lockErrors, internalBatches: f.internalBatches, maxJobsQueued: f.maxJobsQueued, apiCalls: apiCalls(emu.requests, req0), wallSeconds: (Date.now() - wall0) / 1000 };
  } finally {
    await ls.close();
    await emu.close();
  }
}

async function runPluginData(ctx: RunContext, order: 'source' | 'parent'): Promise<StrategyResult> {
  if (!existsSync(SF_RUN)) throw new Error('plugin-data needs the pinned sf CLI: npm ci --prefix test/fidelity/sf-cli --no-audit --no-fund');
  const name = order === 'source' ? 'plugin-data' : 'plugin-data-sorted';
  const wall0 = Date.now();
  const { emu, ls } = await fresh(ctx);
  try {
    const home = mkdtempSync(join(tmpdir(), 'dcl-bench-sf-'));
    const env = { ...isolatedEnv(home), SF_DISABLE_AUTOUPDATE: 'true', SF_ACCESS_TOKEN: emu.token };
    const login = await exec(process.execPath, [SF_RUN, 'org', 'login', 'access-token', '--instance-url', emu.url, '--no-prompt', '--alias', 'emu', '--json'], env);
    if (login.code !== 0) throw new Error(`sf login failed: ${login.stderr.slice(-2000)}`);
    const csv = csvLines(ctx.w, order);
    const file = join(home, 'opportunities.csv');
    writeFileSync(file, csv.header + '\n' + csv.lines.join('\n') + '\n');
    const req0 = emu.requests.length;
    const t0 = ls.now();
    const res = await exec(
      process.execPath,
      ['--no-deprecation', ...ls.nodeArgs(), SF_RUN, 'data', 'upsert', 'bulk', '--target-org', 'emu', '--sobject', 'Opportunity', '--file', file, '--external-id', 'External_ID__c', '--wait', '600', '--line-ending', 'LF', '--json'],
      { ...env, ...ls.clientEnv() }
    );
    const t1 = lastCallAt(emu, req0, t0);
    ls.runToIdle(); // a job the CLI stopped waiting for still runs in the org
    const f = jobFigures(emu.bulk.inspectJobs());
    const ok = f.succeeded / ctx.w.rows;
    ctx.log(`   ${name}: sf exit ${res.code}, ${f.succeeded}/${ctx.w.rows} loaded, ${f.jobs} job(s), simulated ${((t1 - t0) / 1000).toFixed(0)} s, server ${f.serverSeconds.toFixed(0)} s`);
    if (f.jobs === 0) throw new Error(`${name}: sf data upsert bulk created no job (exit ${res.code}): ${res.stdout.slice(-1500)} ${res.stderr.slice(-1500)}`);
    return { name, firstPassSuccessRate: ok, finalSuccessRate: ok, simulatedSeconds: (t1 - t0) / 1000, serverSeconds: f.serverSeconds, jobs: f.jobs, lockErrors: f.lockErrors, internalBatches: f.internalBatches, maxJobsQueued: f.maxJobsQueued, apiCalls: apiCalls(emu.requests, req0), wallSeconds: (Date.now() - wall0) / 1000 };
  } finally {
    await ls.close();
    await emu.close();
  }
}

async function runOurs(ctx: RunContext): Promise<StrategyResult> {
  const wall0 = Date.now();
  const { emu, ls } = await fresh(ctx);
  try {
    const org = await loginToEmulator(emu);
    const def = join(org.home, 'default.json');
    writeFileSync(def, JSON.stringify({ ...opportunityDefinition('ExtOpportunities__dlm', { profile: 'default', ...(ctx.defaultPacing ?? {}) }), name: 'default' }));
    const req0 = emu.requests.length;
    const t0 = ls.now();
    const res = await exec(process.execPath, [...ls.nodeArgs(), join(ROOT, 'bin/run.js'), 'datacloud', 'load', 'start', '--target-org', 'emu', '--definition', def, '--json'], { ...org.env, ...ls.clientEnv() });
    const t1 = lastCallAt(emu, req0, t0);
    let out: { result?: { runId?: string; totals?: { loaded?: number } } } | undefined;
    try {
      out = JSON.parse(res.stdout) as typeof out;
    } catch {
      out = undefined;
    }
    const runId = out?.result?.runId;
    if (!out?.result || !runId) throw new Error(`default: start failed (exit ${res.code})\n${res.stdout.slice(-2000)}\n${res.stderr.slice(-3000)}`);
    const loaded = out.result.totals?.loaded ?? 0;
    const firstPass = firstPassLoaded(join(org.runsDir, runId, 'jobs.ndjson'));
    const f = jobFigures(emu.bulk.inspectJobs());
    if (process.env.BENCH_DEBUG) debugJobs(emu, ctx.log);
    ctx.log(`   default: exit ${res.code}, ${loaded}/${ctx.w.rows} loaded (${firstPass} on the first pass), ${f.jobs} jobs, simulated ${((t1 - t0) / 1000).toFixed(0)} s, server ${f.serverSeconds.toFixed(0)} s`);
    return { name: 'default', firstPassSuccessRate: firstPass / ctx.w.rows, finalSuccessRate: loaded / ctx.w.rows, simulatedSeconds: (t1 - t0) / 1000, serverSeconds: f.serverSeconds, jobs: f.jobs, lockErrors: f.lockErrors, internalBatches: f.internalBatches, maxJobsQueued: f.maxJobsQueued, apiCalls: apiCalls(emu.requests, req0), wallSeconds: (Date.now() - wall0) / 1000 };
  } finally {
    await ls.close();
    await emu.close();
  }
}

/** Virtual time of the client's last call to the org (requests from index `from` on). */
function lastCallAt(emu: Emulator, from: number, t0: number): number {
  let t = t0;
  for (let i = from; i < emu.requests.length; i++) if (!emu.requests[i].path.startsWith('/__emulator')) t = Math.max(t, emu.requests[i].at);
  return t;
}

/** BENCH_DEBUG=1: every job's size and times (virtual seconds from the first). */
function debugJobs(emu: Emulator, log: (s: string) => void): void {
  const js = emu.bulk.inspectJobs();
  const t0 = Math.min(...js.map((j) => j.createdAt));
  const s = (t: number | null): string => (t === null ? '-' : ((t - t0) / 1000).toFixed(1));
  for (const j of js) log(`     ${j.seq} rows ${j.rows} closed +${s(j.uploadCompleteAt)} picked +${s(j.firstPickupAt)} done +${s(j.completedAt)} lock ${j.lockFailures}`);
}

/** Rows loaded by first-attempt jobs, from the run's ledger. */
function firstPassLoaded(file: string): number {
  const attempt = new Map<number, number>();
  let n = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    let r: { t?: string; seq?: number; attempt?: number; kind?: string; succeeded?: number };
    try {
      r = JSON.parse(line) as typeof r;
    } catch {
      continue;
    }
    if (r.t === 'planned' && r.seq !== undefined) attempt.set(r.seq, r.attempt ?? 1);
    else if (r.t === 'result' && r.seq !== undefined && r.kind === 'load' && (attempt.get(r.seq) ?? 1) === 1) n += r.succeeded ?? 0;
  }
  return n;
}

function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
