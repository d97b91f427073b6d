/*
 * `npm run bench:locks`: the lock benchmark. A script that prints figures, not a test.
 *
 * Loads one workload (Opportunities under shared Accounts, keys shuffled against parents)
 * side by side with every strategy (scripts/bench/strategies.ts), each on a fresh emulator
 * with the same data, seed and lock model, for one org shape (a cell) or a matrix of them
 * (scripts/bench/cells.ts). Time is the lockstep virtual clock (scripts/bench/lockstep.ts):
 * it moves only while every client waits on a timer, so no CPU time of the machine, the
 * client's or the emulator's, becomes simulated time. Per strategy it prints end-to-end
 * simulated time and the org's own schedule, first-pass and final success, jobs, lock
 * errors; per cell the lower bound (scripts/bench/lower-bound.ts).
 *
 *   npm run bench:locks                                  one cell: W=30, light skew, no contention
 *   npm run bench:locks -- --workers 8 --skew heavy --contention all
 *   npm run bench:locks -- --matrix [--json]             W 8/30/60 × skew light/heavy × contention none/all
 * Options: --rows 300000 --parents (0.8 × rows) --hot-share --hot-parents --seed 7
 *          --only default,plugin-data-sorted --default-pacing '{"pollSeconds":[1,5]}' --json --out file.json
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { cellName, CONTENTIONS, lockFor, matrix, SKEWS, workload, type Cell, type Contention, type Skew } from './bench/cells.js';
import { lowerBound, type LowerBound } from './bench/lower-bound.js';
import type { StrategyResult } from './bench/measure.js';
import { runStrategy, STRATEGY_NAMES, type StrategyName } from './bench/strategies.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '300000' },
    parents: { type: 'string' },
    'hot-share': { type: 'string' },
    'hot-parents': { type: 'string' },
    workers: { type: 'string', default: '30' },
    skew: { type: 'string', default: 'light' },
    contention: { type: 'string', default: 'none' },
    matrix: { type: 'boolean', default: false },
    'matrix-workers': { type: 'string', default: '8,30,60' },
    seed: { type: 'string', default: '7' },
    only: { type: 'string' },
    'default-pacing': { type: 'string' },
    json: { type: 'boolean', default: false },
    /** Also write the JSON document to this file (tables still go to stdout). */
    out: { type: 'string' },
  },
});

const log = (msg: string): void => {
  if (!values.json) process.stderr.write(`${msg}\n`);
};

type CellResult = { cell: Cell; lowerBound: LowerBound; strategies: StrategyResult[]; workload: { rows: number; parents: number; hotParents: Array<{ key: string; rows: number }> } };

async function runCell(cell: Cell): Promise<CellResult> {
  const w = workload(cell.skew, {
    rows: Number(values.rows),
    seed: Number(values.seed),
    ...(values.parents ? { parents: Number(values.parents) } : {}),
    ...(values['hot-share'] ? { hotShare: Number(values['hot-share']) } : {}),
    ...(values['hot-parents'] ? { hotParents: Number(values['hot-parents']) } : {}),
  });
  const lock = lockFor(cell, w);
  const lb = lowerBound(w.parentOf, lock);
  log(`\n== ${cellName(cell)}: ${w.rows.toLocaleString('en-US')} rows, ${w.parentCount.toLocaleString('en-US')} parents, largest ${w.hotParents.map((h) => h.rows).join(' + ')}; lower bound ${lb.seconds.toFixed(0)} s`);
  const only = values.only?.split(',');
  const strategies: StrategyResult[] = [];
  for (const name of STRATEGY_NAMES) {
    if (only && !only.includes(name)) continue;
    strategies.push(
      await runStrategy(name as StrategyName, {
        w,
        lock,
        seed: Number(values.seed),
        log,
        ...(values['default-pacing'] ? { defaultPacing: JSON.parse(values['default-pacing']) as Record<string, unknown> } : {}),
      })
    );
  }
  return { cell, lowerBound: lb, strategies, workload: { rows: w.rows, parents: w.parentCount, hotParents: w.hotParents } };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)} %`;
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((x) => '-'.repeat(x)).join('  '), ...rows.map(line)].join('\n');
}

function printCell(r: CellResult): void {
  const out = (s: string): boolean => process.stdout.write(s + '\n');
  const lb = r.lowerBound;
  out(`\n${cellName(r.cell)} — ${r.workload.rows.toLocaleString('en-US')} rows; lower bound ${lb.seconds.toFixed(0)} s (work ÷ W ${lb.workSeconds.toFixed(0)} s, serial hold of ${lb.serialLock} ${lb.serialSeconds.toFixed(0)} s)`);
  out(
    table(
      ['strategy', 'first pass', 'final', 'simulated', 'server', '÷ bound', 'jobs', 'lock errors', 'max queued', 'wall'],
      r.strategies.map((s) => [s.name, pct(s.firstPassSuccessRate), pct(s.finalSuccessRate), `${s.simulatedSeconds.toFixed(0)} s`, `${s.serverSeconds.toFixed(0)} s`, `${(s.simulatedSeconds / lb.seconds).toFixed(2)}×`, String(s.jobs), String(s.lockErrors), String(s.maxJobsQueued), `${s.wallSeconds.toFixed(0)} s`])
    )
  );
  const def = r.strategies.find((s) => s.name === 'default');
  const t8 = r.strategies.find((s) => s.name === 'seed-test8');
  const pds = r.strategies.find((s) => s.name === 'plugin-data-sorted');
  if (def) {
    const bits = [`default: ${(def.simulatedSeconds / lb.seconds).toFixed(2)}× the lower bound`];
    if (t8) bits.push(`${(def.simulatedSeconds / t8.simulatedSeconds).toFixed(3)}× seed-test8's time`);
    if (pds) bits.push(`${(def.simulatedSeconds / pds.simulatedSeconds).toFixed(2)}× plugin-data-sorted's`);
    out(bits.join(', ') + '.');
  }
}

/** The issue's must-show conditions for `default`, per cell: [label, holds]. */
export function checks(r: CellResult): Array<[string, boolean]> {
  const s = (n: string): StrategyResult | undefined => r.strategies.find((x) => x.name === n);
  const def = s('default');
  if (!def) return [];
  const contended = r.cell.contention !== 'none';
  const out: Array<[string, boolean]> = [['final 100 %', def.finalSuccessRate >= 1]];
  if (!contended) out.push(['first pass ≥ 99.9 %', def.firstPassSuccessRate >= 0.999]);
  else out.push(['first pass highest', r.strategies.every((x) => x.firstPassSuccessRate <= def.firstPassSuccessRate)]);
  out.push([contended ? '≤ 1.5× bound' : '≤ 1.2× bound', def.simulatedSeconds <= (contended ? 1.5 : 1.2) * r.lowerBound.seconds]);
  const t8 = s('seed-test8');
  if (t8) out.push(['≤ 1/10 Test8', def.simulatedSeconds <= t8.simulatedSeconds / 10]);
  const pds = s('plugin-data-sorted');
  if (pds) out.push(['≤ plugin-data-sorted', def.simulatedSeconds <= pds.simulatedSeconds]);
  const pd = s('plugin-data');
  if (pd && pds) out.push(['success > both plugin-data', def.finalSuccessRate > Math.max(pd.finalSuccessRate, pds.finalSuccessRate)]);
  return out;
}

function cellsToRun(): Cell[] {
  if (values.matrix) return matrix(values['matrix-workers'].split(',').map(Number));
  const skew = values.skew as Skew;
  const contention = values.contention as Contention;
  if (!SKEWS.includes(skew)) throw new Error(`--skew: one of ${SKEWS.join(', ')}`);
  if (!CONTENTIONS.includes(contention)) throw new Error(`--contention: one of ${CONTENTIONS.join(', ')}`);
  return [{ workers: Number(values.workers), skew, contention }];
}

async function main(): Promise<void> {
  const wall0 = Date.now();
  const results: CellResult[] = [];
  for (const cell of cellsToRun()) {
    const r = await runCell(cell);
    results.push(r);
    if (!values.json) printCell(r);
  }
  const doc = {
    cells: results.map((r) => ({
      workers: r.cell.workers,
      skew: r.cell.skew,
      contention: r.cell.contention,
      lowerBoundSeconds: r.lowerBound.seconds,
      strategies: r.strategies,
    })),
  };
  const text = JSON.stringify(values.matrix ? doc : doc.cells[0], null, 2) + '\n';
  if (values.out) writeFileSync(values.out, text);
  if (values.json) {
    process.stdout.write(text);
    return;
  }
  const out = (s: string): boolean => process.stdout.write(s + '\n');
  if (results.length > 1) {
    out('\nMust-show checks for default, per cell:');
    for (const r of results) out(`  ${cellName(r.cell).padEnd(40)} ${checks(r).map(([k, ok]) => `${ok ? '✓' : '✗'} ${k}`).join('  ')}`);
  }
  out(`\n${results.length} cell(s), ${((Date.now() - wall0) / 60_000).toFixed(1)} min wall.`);
}

await main();
