/*
 * `npm run bench:locks`: the lock benchmark. A script that prints figures, not a test.
 *
 * One reference workload (Opportunities under shared, skewed Accounts, keys shuffled
 * relative to parents, as in real data) is loaded side by side, each strategy on a fresh
 * emulator with the same data, seed and lock model:
 *   seed-test3/4/7/8  the seed's settings through the plugin's own engine (--profile seed
 *                     with Test3..Test8 overrides), per-job pacing kept, partition stagger
 *                     shrunk in proportion to the partition size (seed: per 400k rows);
 *   default           our default profile;
 *   plugin-data       `sf data upsert bulk` of the same rows as one CSV, by the real sf CLI.
 * Every pacing value is given explicitly here, so that all of them are scaled (a value
 * inherited from a profile would run unscaled, on the wall clock).
 * Every duration is read on the emulator's simulated clock from its own job records, so a
 * client's poll interval distorts no one. Client pacing (delays, staggers, backoffs, polls)
 * is divided by the emulator's time scale so both run on the same simulated clock.
 *
 * Options: --rows 200000 --parents 160000 --hot-parents 2 --hot-share 0.01 --time-scale 20
 *          --seed 7 --only a,b --json
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'csv-stringify/sync';
import { generateDataset, datasetConfig, opportunityDefinition, type Dataset } from '../test/emulator/dataset.js';
import { startEmulator, type Emulator } from '../test/emulator/server.js';
import { isolatedEnv, loginToEmulator, runPlugin, ROOT, type OrgHome } from '../test/helpers/plugin.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    parents: { type: 'string', default: '160000' },
    'hot-parents': { type: 'string', default: '2' },
    'hot-share': { type: 'string', default: '0.01' },
    'time-scale': { type: 'string', default: '20' },
    seed: { type: 'string', default: '7' },
    only: { type: 'string' },
    /** JSON merged into the default profile's pacing, to measure alternatives (e.g. '{"rowsPerJob":5000}'). */
    'default-pacing': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});

const ROWS = Number(values.rows);
const SCALE = Number(values['time-scale']);
const SEED_PARTITION_ROWS = 400_000;
const log = (msg: string): void => {
  if (!values.json) process.stderr.write(`${msg}\n`);
};

type Strategy = { name: string; settings: string; pacing?: Record<string, unknown>; pluginData?: true };

const partitionRows = ROWS / 5;
const staggerFor = (seedSeconds: number): number => (seedSeconds * partitionRows) / SEED_PARTITION_ROWS;
/** Every client-side duration goes onto the simulated clock. */
const scaled = (p: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = { ...p };
  for (const k of ['staggerSeconds']) if (typeof out[k] === 'number') out[k] = (out[k] as number) / SCALE;
  for (const k of ['delaySeconds', 'retryDelaysSeconds', 'pollSeconds']) if (Array.isArray(out[k])) out[k] = (out[k] as number[]).map((v) => v / SCALE);
  return out;
};

const SEED_POLL = [2, 10];
const STRATEGIES: Strategy[] = [
  {
    name: 'seed-test3',
    settings: '2,000/job, 5 key partitions, no delay, no stagger, no retry',
    pacing: { profile: 'seed', rowsPerJob: 2_000, staggerSeconds: 0, delaySeconds: [0, 0], maxAttempts: 1, retryDelaysSeconds: [0], pollSeconds: SEED_POLL },
  },
  {
    name: 'seed-test4',
    settings: '500/job, 10–20 s delay, 1 h stagger (scaled), no retry',
    pacing: { profile: 'seed', rowsPerJob: 500, staggerSeconds: staggerFor(3_600), delaySeconds: [10, 20], maxAttempts: 1, retryDelaysSeconds: [0], pollSeconds: SEED_POLL },
  },
  {
    name: 'seed-test7',
    settings: '500/job, 10–20 s delay, 1 h stagger (scaled), 2 immediate retries',
    pacing: { profile: 'seed', rowsPerJob: 500, staggerSeconds: staggerFor(3_600), delaySeconds: [10, 20], maxAttempts: 3, retryDelaysSeconds: [0, 0], pollSeconds: SEED_POLL },
  },
  {
    name: 'seed-test8',
    settings: '500/job, 20–30 s delay, 1.5 h stagger (scaled), retries after 2/5/10 s',
    pacing: { profile: 'seed', rowsPerJob: 500, staggerSeconds: staggerFor(5_400), delaySeconds: [20, 30], maxAttempts: 4, retryDelaysSeconds: [2, 5, 10], pollSeconds: SEED_POLL },
  },
  {
    name: 'default',
    settings: 'our default profile',
    pacing: { profile: 'default', pollSeconds: [1, 10], retryDelaysSeconds: [5, 15, 45, 120], ...(values['default-pacing'] ? (JSON.parse(values['default-pacing']) as Record<string, unknown>) : {}) },
  },
  { name: 'plugin-data', settings: 'sf data upsert bulk, one CSV, one job', pluginData: true },
];

type Row = {
  name: string;
  settings: string;
  firstPassSuccessRate: number;
  finalSuccessRate: number;
  simulatedSeconds: number;
  jobs: number;
  internalBatches: number;
  apiCalls: number;
  physicalLimitSeconds: number;
};

const MAPPING = (opportunityDefinition() as { target: { mapping: Record<string, string> } }).target.mapping;

async function main(): Promise<void> {
  const ds = generateDataset({
    rows: ROWS,
    parents: Number(values.parents),
    seed: Number(values.seed),
    shuffle: true,
    skew: { hotParents: Number(values['hot-parents']), hotShare: Number(values['hot-share']) },
  });
  const only = values.only?.split(',');
  const rows: Row[] = [];
  for (const s of STRATEGIES) {
    if (only && !only.includes(s.name)) continue;
    log(`\n== ${s.name}: ${s.settings}`);
    rows.push(s.pluginData ? await runPluginData(ds, s) : await runStrategy(ds, s));
  }
  const workload = {
    rows: ROWS,
    parents: ds.parentKeys.length,
    hotParents: ds.hotParents,
    maxChildren: ds.childCounts.reduce((m, c) => Math.max(m, c), 0),
    keysShuffledRelativeToParents: true,
    timeScale: SCALE,
    lockModel: new (await import('../test/emulator/server.js')).Emulator({}).config.bulk.lock,
  };
  if (values.json) {
    process.stdout.write(JSON.stringify({ workload, strategies: rows.map(({ settings: _s, ...r }) => r) }, null, 2) + '\n');
    return;
  }
  printTable(workload, rows);
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)} %`;
}

function printTable(workload: Record<string, unknown>, rows: Row[]): void {
  const out = (s: string): boolean => process.stdout.write(s + '\n');
  out(`\nWorkload: ${ROWS.toLocaleString('en-US')} Opportunities under ${String(workload.parents)} Accounts (largest parent ${String(workload.maxChildren)} children), keys shuffled, lock model ×${SCALE}`);
  const head = ['strategy', 'first pass', 'final', 'simulated', 'jobs', 'int. batches', 'API calls'];
  const data = rows.map((r) => [r.name, pct(r.firstPassSuccessRate), pct(r.finalSuccessRate), `${Math.round(r.simulatedSeconds)} s`, String(r.jobs), String(r.internalBatches), String(r.apiCalls)]);
  const widths = head.map((h, i) => Math.max(h.length, ...data.map((d) => d[i].length)));
  out(head.map((h, i) => h.padEnd(widths[i])).join('  '));
  out(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const d of data) out(d.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
  const def = rows.find((r) => r.name === 'default');
  const t8 = rows.find((r) => r.name === 'seed-test8');
  const pd = rows.find((r) => r.name === 'plugin-data');
  if (def) {
    out(`\nPhysical limit (every worker busy for the whole default run): ${Math.round(def.physicalLimitSeconds)} s; default took ${Math.round(def.simulatedSeconds)} s = ${(def.simulatedSeconds / def.physicalLimitSeconds).toFixed(2)}× the limit.`);
    if (t8) out(`default vs seed-test8: duration ${(def.simulatedSeconds / t8.simulatedSeconds).toFixed(3)}×, jobs ${(def.jobs / t8.jobs).toFixed(3)}×.`);
    if (pd) out(`default vs plugin-data: duration ${(def.simulatedSeconds / pd.simulatedSeconds).toFixed(3)}×, first-pass success ${pct(def.firstPassSuccessRate)} vs ${pct(pd.firstPassSuccessRate)}.`);
  }
}

async function freshEmulator(ds: Dataset): Promise<{ emu: Emulator; org: OrgHome }> {
  const emu = await startEmulator({ timeScale: SCALE, seed: Number(values.seed), ...datasetConfig(ds) });
  const org = await loginToEmulator(emu);
  return { emu, org };
}

/** Bulk and Data Cloud calls the load made (login and inspection excluded). */
function apiCalls(emu: Emulator, fromIndex = 0): number {
  return emu.requests.slice(fromIndex).filter((r) => /^\/services\/data\/v\d+\.\d\/(jobs|ssot|limits|sobjects\/[^/]+\/describe)/.test(r.path)).length;
}

function jobStats(emu: Emulator, jobIds?: Set<string>): { jobs: number; internalBatches: number; simulatedSeconds: number; succeeded: number } {
  const jobs = emu.bulk.inspectJobs().filter((j) => !jobIds || jobIds.has(j.id));
  const created = Math.min(...jobs.map((j) => j.createdAt));
  const done = Math.max(...jobs.map((j) => j.completedAt ?? j.createdAt));
  return {
    jobs: jobs.length,
    internalBatches: jobs.reduce((n, j) => n + j.internalBatches, 0),
    simulatedSeconds: jobs.length ? (done - created) / 1000 : 0,
    succeeded: jobs.reduce((n, j) => n + j.succeeded, 0),
  };
}

async function runStrategy(ds: Dataset, s: Strategy): Promise<Row> {
  const { emu, org } = await freshEmulator(ds);
  try {
    const def = join(org.home, `${s.name}.json`);
    writeFileSync(def, JSON.stringify({ ...opportunityDefinition('ExtOpportunities__dlm', scaled(s.pacing ?? {})), name: s.name }));
    const reqStart = emu.requests.length;
    const start = await runPlugin(['datacloud', 'load', 'start', '--target-org', 'emu', '--definition', def, '--json'], org, 1_800_000);
    const r = start.json?.result;
    if (!r) throw new Error(`${s.name}: start failed\n${start.stderr.slice(-3000)}`);
    const firstJobs = new Set(emu.bulk.inspectJobs().map((j) => j.id));
    const stats = jobStats(emu, firstJobs);
    if (process.env.BENCH_DEBUG) {
      const js = emu.bulk.inspectJobs();
      const t0 = Math.min(...js.map((j) => j.createdAt));
      for (const j of js) log(`     ${j.id} rows ${j.rows} created +${((j.createdAt - t0) / 1000).toFixed(0)} upl +${(((j.uploadCompleteAt ?? 0) - t0) / 1000).toFixed(0)} pick +${(((j.firstPickupAt ?? 0) - t0) / 1000).toFixed(0)} done +${(((j.completedAt ?? 0) - t0) / 1000).toFixed(0)} lockFail ${j.lockFailures}`);
    }
    const calls = apiCalls(emu, reqStart);
    const summary = emu.bulk.summary();
    log(`   start: ${r.state}, ${r.totals.loaded}/${r.totals.sourceRows} loaded, ${r.totals.failed} failed, ${stats.jobs} jobs, ${Math.round(stats.simulatedSeconds)} simulated s`);
    let final = r.totals.loaded;
    if (r.totals.failed > 0) {
      const retry = await runPlugin(['datacloud', 'load', 'retry-failures', '--target-org', 'emu', '--run-id', r.runId, '--json'], org, 1_800_000);
      final = retry.json?.result?.totals?.loaded ?? final;
      log(`   retry-failures: ${final}/${r.totals.sourceRows} loaded`);
    }
    return {
      name: s.name,
      settings: s.settings,
      firstPassSuccessRate: r.totals.loaded / r.totals.sourceRows,
      finalSuccessRate: final / r.totals.sourceRows,
      simulatedSeconds: stats.simulatedSeconds,
      jobs: stats.jobs,
      internalBatches: stats.internalBatches,
      apiCalls: calls,
      physicalLimitSeconds: summary.physicalLimitSeconds,
    };
  } finally {
    await emu.close();
  }
}

/** plugin-data: the same rows as one CSV in key order, `sf data upsert bulk` through the real sf CLI. */
async function runPluginData(ds: Dataset, s: Strategy): Promise<Row> {
  const sf = join(ROOT, 'test/fidelity/sf-cli/node_modules/.bin/sf');
  if (!existsSync(sf)) throw new Error(`plugin-data needs the pinned sf CLI: npm ci --prefix test/fidelity/sf-cli`);
  const emu = await startEmulator({ timeScale: SCALE, seed: Number(values.seed), ...datasetConfig(ds) });
  try {
    const home = mkdtempSync(join(tmpdir(), 'dcl-bench-sf-'));
    const env = { ...isolatedEnv(home), SF_DISABLE_AUTOUPDATE: 'true', SF_ACCESS_TOKEN: emu.token };
    const login = await exec(sf, ['org', 'login', 'access-token', '--instance-url', emu.url, '--no-prompt', '--alias', 'emu', '--json'], env);
    if (login.code !== 0) throw new Error(`sf login failed: ${login.stderr}`);
    const sorted = [...ds.table.rows].sort((a, b) => (String(a.ExternalId__c) < String(b.ExternalId__c) ? -1 : 1));
    const header = Object.values(MAPPING);
    const csv = stringify([header, ...sorted.map((r) => Object.keys(MAPPING).map((k) => (r[k] === null || r[k] === undefined ? '' : String(r[k]))))], { record_delimiter: '\n' });
    const file = join(home, 'opportunities.csv');
    writeFileSync(file, csv);
    const reqStart = emu.requests.length;
    const res = await exec(sf, ['data', 'upsert', 'bulk', '--target-org', 'emu', '--sobject', 'Opportunity', '--file', file, '--external-id', 'External_ID__c', '--wait', '120', '--line-ending', 'LF', '--json'], env);
    const stats = jobStats(emu);
    log(`   sf data upsert bulk exit ${res.code}: ${stats.succeeded}/${ROWS} loaded, ${stats.jobs} job(s), ${Math.round(stats.simulatedSeconds)} simulated s`);
    return {
      name: s.name,
      settings: s.settings,
      firstPassSuccessRate: stats.succeeded / ROWS,
      finalSuccessRate: stats.succeeded / ROWS,
      simulatedSeconds: stats.simulatedSeconds,
      jobs: stats.jobs,
      internalBatches: stats.internalBatches,
      apiCalls: apiCalls(emu, reqStart),
      physicalLimitSeconds: emu.bulk.summary().physicalLimitSeconds,
    };
  } finally {
    await emu.close();
  }
}

function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

await main();
