/*
 * Live-org entry point: `npm run test:live` (builds lib/ first).
 *
 * Runs the plugin's own commands through bin/run.js against a REAL org:
 *   plan → start → status → report   (each with --json; exit codes and JSON checked)
 *
 * Needs:
 *   SF_LIVE_TARGET_ORG   alias or username of an org already authenticated with the sf CLI
 *                        (your normal HOME is used, so `sf org login web --alias x` first)
 *   SF_LIVE_DEFINITION   path to a load definition JSON (README, "The load definition").
 *                        It WRITES to the org: point it at a small source and a sandbox.
 * Optional:
 *   SF_LIVE_RUNS_DIR           where the run directory goes (default: a new temp dir, kept)
 *   SF_LIVE_TIMEOUT_MINUTES    cap for `start` (default 60)
 *
 * Without the two required variables it prints SKIPPED and exits 0.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');
const RUN_JS = join(ROOT, 'bin', 'run.js');

type Result = { code: number | null; stdout: string; stderr: string; json?: any; ms: number };

const targetOrg = process.env.SF_LIVE_TARGET_ORG?.trim();
const definitionPath = process.env.SF_LIVE_DEFINITION?.trim();

if (!targetOrg || !definitionPath) {
  console.log('SKIPPED: live-org tests need SF_LIVE_TARGET_ORG and SF_LIVE_DEFINITION (see README)');
  process.exit(0);
}

const definition = resolve(definitionPath);
if (!existsSync(definition)) fatal(`SF_LIVE_DEFINITION does not exist: ${definition}`);
if (!existsSync(join(ROOT, 'lib', 'commands', 'datacloud', 'load'))) fatal('lib/ is not built: run `npm run test:live` (it builds first) or `npm run build`.');

const runsDir = process.env.SF_LIVE_RUNS_DIR ? resolve(process.env.SF_LIVE_RUNS_DIR) : mkdtempSync(join(tmpdir(), 'dcl-live-runs-'));
const startTimeoutMs = Number(process.env.SF_LIVE_TIMEOUT_MINUTES ?? '60') * 60_000;

const env: NodeJS.ProcessEnv = {
  ...process.env, // the real HOME: that is where the org's auth lives
  SF_DISABLE_AUTOUPDATE: 'true',
  SF_AUTOUPDATE_DISABLE: 'true',
  SF_DISABLE_TELEMETRY: 'true',
  SF_SKIP_NEW_VERSION_CHECK: 'true',
  FORCE_COLOR: '0',
};

let passed = 0;
let failed = 0;

function fatal(msg: string): never {
  console.error(`live: ${msg}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

function runPlugin(args: string[], timeoutMs: number): Promise<Result> {
  const started = Date.now();
  return new Promise((done) => {
    const child = spawn(process.execPath, [RUN_JS, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      process.stderr.write(d); // progress and warnings stay visible while a long load runs
    });
    const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs); // SIGINT: the plugin stops cleanly
    child.on('close', (code) => {
      clearTimeout(timer);
      let json: any;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      done({ code, stdout, stderr, json, ms: Date.now() - started });
    });
  });
}

/** Run one step; `check` returns a list of problems (empty = pass). */
async function step(name: string, args: string[], timeoutMs: number, check: (r: Result) => string[]): Promise<Result> {
  console.log(`\n▶ ${name}: bin/run.js ${args.join(' ')}`);
  const r = await runPlugin(args, timeoutMs);
  let problems: string[];
  if (r.json === undefined) problems = [`stdout is not JSON:\n${r.stdout.slice(-2000)}`];
  else if (r.json.result === undefined) {
    // sf's --json error envelope ({name, message, exitCode, ...}); e.g. a flag error also exits 2.
    problems = [`${r.json.name === 'NotImplemented' ? 'command not implemented yet' : `error ${String(r.json.name)}`}: ${String(r.json.message)}`];
  } else problems = check(r);
  if (problems.length === 0) {
    passed++;
    console.log(`✔ ${name} (exit ${String(r.code)}, ${(r.ms / 1000).toFixed(1)} s)`);
  } else {
    failed++;
    console.log(`✘ ${name} (exit ${String(r.code)}, ${(r.ms / 1000).toFixed(1)} s)\n  - ${problems.join('\n  - ')}`);
  }
  return r;
}

console.log(`live: org ${targetOrg}, definition ${definition}, runs dir ${runsDir}`);
console.log('live: this WRITES records to that org.');

const plan = await step('plan', ['datacloud', 'load', 'plan', '--target-org', targetOrg, '--definition', definition, '--json'], 10 * 60_000, (r) => {
  const p: string[] = [];
  if (r.code !== 0) p.push(`exit code ${String(r.code)}, expected 0`);
  if (r.json.status !== 0) p.push(`json.status ${String(r.json.status)}, expected 0`);
  const pl = r.json.result?.plan;
  if (typeof pl?.totalRows !== 'number') p.push('result.plan.totalRows is not a number');
  if (!Array.isArray(pl?.partitions) || pl.partitions.length === 0) p.push('result.plan.partitions is empty');
  return p;
});
if (plan.json?.result?.plan) console.log(`  plan: ${String(plan.json.result.plan.totalRows)} rows in ${String(plan.json.result.plan.partitions.length)} partitions`);

let runId: string | undefined;
if (plan.code === 0) {
  const start = await step(
    'start',
    ['datacloud', 'load', 'start', '--target-org', targetOrg, '--definition', definition, '--runs-dir', runsDir, '--json'],
    startTimeoutMs,
    (r) => {
      const p: string[] = [];
      // 0 = everything loaded; 2 = completed with failed rows (still a working load).
      if (r.code !== 0 && r.code !== 2) p.push(`exit code ${String(r.code)}, expected 0 or 2`);
      const res = r.json.result;
      if (typeof res?.runId !== 'string') p.push('result.runId missing');
      if (res?.state !== 'completed') p.push(`result.state ${String(res?.state)}, expected completed`);
      const t = res?.totals;
      if (t && typeof t.loaded === 'number' && typeof t.failed === 'number' && r.code === 0 && t.failed !== 0) p.push('exit 0 but totals.failed > 0');
      return p;
    }
  );
  runId = start.json?.result?.runId;
  if (start.json?.result?.totals) console.log(`  totals: ${JSON.stringify(start.json.result.totals)}`);
} else {
  failed++;
  console.log('✘ start: not run, plan failed');
}

if (runId) {
  await step('status', ['datacloud', 'load', 'status', '--run-id', runId, '--runs-dir', runsDir, '--json'], 60_000, (r) => {
    const p: string[] = [];
    if (r.code !== 0 && r.code !== 2) p.push(`exit code ${String(r.code)}, expected 0 (or 2 with failed rows)`);
    if (r.json.result?.runId !== undefined && r.json.result.runId !== runId) p.push(`result.runId ${String(r.json.result.runId)} ≠ ${runId}`);
    return p;
  });
  await step('report', ['datacloud', 'load', 'report', '--run-id', runId, '--runs-dir', runsDir, '--json'], 5 * 60_000, (r) => {
    const p: string[] = [];
    if (r.code !== 0 && r.code !== 2) p.push(`exit code ${String(r.code)}, expected 0 (or 2 with failed rows)`);
    return p;
  });
} else {
  failed += 2;
  console.log('✘ status, report: not run, no run id from start');
}

console.log(`\nlive: run directory kept at ${runsDir}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
