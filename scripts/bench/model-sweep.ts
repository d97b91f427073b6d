/*
 * Design sweep on the engine model (engine-model.ts): makespan ÷ lower bound for job-size
 * rules and controller settings across org shapes. A script that prints figures.
 *   node --import tsx scripts/bench/model-sweep.ts [--rows 100000] [--rules a,b]
 */
import { parseArgs } from 'node:util';
import { defaultConfig, type LockModelConfig } from '../../test/emulator/config.js';
import { workload, type Skew } from './cells.js';
import { AdaptiveController, FixedController } from '../../src/engine/concurrency.js';
import { runEngineModel, type JobSizeContext } from './engine-model.js';
import { lowerBound } from './lower-bound.js';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '100000' }, rules: { type: 'string' }, workers: { type: 'string', default: '8,30,60' }, skews: { type: 'string', default: 'light,heavy' }, fixed: { type: 'boolean', default: false }, poll: { type: 'string', default: '1,10' }, order: { type: 'string', default: 'lpt' }, growth: { type: 'string', default: '1' }, bug: { type: 'boolean', default: false }, lazy: { type: 'boolean', default: false } } });
const N = Number(values.rows);
const round200 = (x: number): number => Math.max(200, Math.min(10_000, Math.ceil(x / 200) * 200));
const RULES: Record<string, { part: (n: number) => number; job: (c: JobSizeContext) => number }> = {
  'n/100': { part: (n) => round200(n / 100), job: (c) => c.partitionLeft },
  'n/200': { part: (n) => round200(n / 200), job: (c) => c.partitionLeft },
  'n/200p': { part: (n) => round200(n / 200), job: () => round200(N / 200) },
  'n/300p': { part: (n) => round200(n / 300), job: () => round200(N / 300) },
  'n/400p': { part: (n) => round200(n / 400), job: () => round200(N / 400) },
  'n/600p': { part: (n) => round200(n / 600), job: () => round200(N / 600) },
  'n/400': { part: (n) => round200(n / 400), job: (c) => c.partitionLeft },
  'n/200+big1': { part: (n) => round200(n / 200), job: (c) => (c.singleParent ? 10_000 : c.partitionLeft) },
  'cur-gss2': { part: () => 0, job: (c) => (c.singleParent ? 10_000 : round200(c.loadLeft / (2 * (c.capacity ?? 100)))) },
  'cur-gss3': { part: () => 0, job: (c) => (c.singleParent ? 10_000 : round200(c.loadLeft / (3 * (c.capacity ?? 100)))) },
  'cur-gss1': { part: () => 0, job: (c) => (c.singleParent ? 10_000 : round200(c.loadLeft / (1 * (c.capacity ?? 100)))) },
  'cur-gss1.5': { part: () => 0, job: (c) => (c.singleParent ? 10_000 : round200(c.loadLeft / (1.5 * (c.capacity ?? 100)))) },
  'cur-gss1m1k': { part: () => 0, job: (c) => (c.singleParent ? 10_000 : Math.max(1000, round200(c.loadLeft / (1 * (c.capacity ?? 100))))) },
  'cur-gss1.5m1k': { part: () => 0, job: (c) => (c.singleParent ? 10_000 : Math.max(1000, round200(c.loadLeft / (1.5 * (c.capacity ?? 100))))) },
  'cur-n/200': { part: () => 0, job: (c) => (c.singleParent ? 10_000 : round200(c.totalRows / 200)) },
  'cur-n/400': { part: () => 0, job: (c) => (c.singleParent ? 10_000 : round200(c.totalRows / 400)) },
  'gss': { part: () => 10_000, job: (c) => (c.singleParent ? 10_000 : round200(Math.min(c.partitionLeft, c.loadLeft / (2 * (c.capacity ?? 50))))) },
};
const rules = values.rules ? values.rules.split(',') : Object.keys(RULES);
for (const r of rules) {
  const m = /^n\/(\d+)p$/.exec(r);
  if (m && !RULES[r]) RULES[r] = { part: (n) => round200(n / Number(m[1])), job: () => round200(N / Number(m[1])) };
}
const skews: Record<string, { hotParents: number; hotShare: number }> = { light: { hotParents: 2, hotShare: 0.01 }, heavy: { hotParents: 1, hotShare: 12_000 / N } };
const [pa, pb] = values.poll.split(',').map(Number);
for (const skew of values.skews.split(',')) {
  const w = workload(skew as Skew, { rows: N, seed: 7, hotParents: skews[skew].hotParents, hotShare: skews[skew].hotShare });
  const rows = w.parentOf.map((parent, i) => ({ key: w.keyOf[i], parent }));
  for (const W of values.workers.split(',').map(Number)) {
    const lock: LockModelConfig = { ...defaultConfig().bulk.lock, workers: W };
    const lb = lowerBound(rows.map((r) => r.parent), lock);
    for (const name of rules) {
      const rule = RULES[name];
      const controller = values.fixed ? new FixedController(W + 1) : new AdaptiveController({ initial: 4, max: 100, growth: Number(values.growth) });
      const t = Date.now();
      const r = runEngineModel({ rows, lock, seed: 7, controller, scheduler: name.startsWith('cur') ? 'cursor' : 'partitions', soloRows: round200(N / 200), order: values.order as 'lpt' | 'rr', fullPageDropsLastRow: values.bug, launchOnlyOnFinish: values.lazy, partitionRows: rule.part(N), jobRows: rule.job, pollSeconds: [pa, pb] });
      console.log(`${skew.padEnd(5)} W=${String(W).padEnd(2)} ${name.padEnd(11)} LB ${lb.seconds.toFixed(0).padStart(4)} s (work ${lb.workSeconds.toFixed(0)}, serial ${lb.serialSeconds.toFixed(0)})  e2e ${r.endToEndSeconds.toFixed(0).padStart(4)} s = ${(r.endToEndSeconds / lb.seconds).toFixed(2)}×  server ${(r.serverSeconds / lb.seconds).toFixed(2)}×  jobs ${r.jobs}  first ${(100 * r.firstPass).toFixed(2)} %  maxInFlight ${r.maxInFlight} maxQueued ${r.maxQueued} util ${(100 * r.utilization).toFixed(0)} % lastFresh ${r.lastFreshLaunchSeconds.toFixed(0)} s limits ${r.limits.slice(0, 12).join(',')}${r.limits.length > 12 ? '…' + r.limits[r.limits.length - 1] : ''}  (${Date.now() - t} ms)`);
    }
  }
}
