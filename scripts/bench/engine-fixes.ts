/*
 * What each engine change buys, on the engine model (engine-model.ts, which reproduces
 * today's engine within a few percent of the real bench): simulated time ÷ lower bound per
 * cell, adding one change at a time. A script that prints figures.
 *   node --import tsx scripts/bench/engine-fixes.ts [--rows 300000] [--contention none]
 */
import { parseArgs } from 'node:util';
import { AdaptiveController, INITIAL_CONCURRENCY } from '../../src/engine/concurrency.js';
import { autoRowsPerJob, nextJobRows } from '../../src/engine/sizing.js';
import { lockFor, workload, type Contention, type Skew } from './cells.js';
import { runEngineModel, type EngineModelOptions } from './engine-model.js';
import { lowerBound } from './lower-bound.js';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '300000' }, contention: { type: 'string', default: 'none' }, workers: { type: 'string', default: '8,30,60' } } });
const N = Number(values.rows);
const J = autoRowsPerJob(N, 100);
type Variant = { name: string; o: Partial<EngineModelOptions> };
const VARIANTS: Variant[] = [
  { name: 'today', o: { order: 'rr', fullPageDropsLastRow: true, launchOnlyOnFinish: true, jobRows: () => J } },
  { name: '+wake on limit', o: { order: 'rr', fullPageDropsLastRow: true, jobRows: () => J } },
  { name: '+full pages', o: { order: 'rr', jobRows: () => J } },
  { name: '+largest first', o: { order: 'lpt', jobRows: (c) => (c.singleParent ? 10_000 : J) } },
  { name: '+size per job', o: { scheduler: 'cursor', soloRows: J, jobRows: (c) => nextJobRows({ rowsLeft: c.loadLeft, capacity: c.capacity, maxConcurrency: 100, singleParent: c.singleParent }) } },
];
console.log(`${N.toLocaleString('en-US')} rows, contention ${values.contention}; simulated time ÷ lower bound (first pass)`);
console.log(['cell'.padEnd(16), ...VARIANTS.map((v) => v.name.padStart(16))].join(''));
for (const skew of ['light', 'heavy'] as Skew[]) {
  const w = workload(skew, { rows: N, seed: 7 });
  const rows = w.parentOf.map((p, i) => ({ key: w.keyOf[i], parent: p }));
  for (const W of values.workers.split(',').map(Number)) {
    const lock = lockFor({ workers: W, skew, contention: values.contention as Contention }, w);
    const lb = lowerBound(w.parentOf, lock).seconds;
    const cells = VARIANTS.map((v) => {
      const r = runEngineModel({ rows, lock, seed: 7, controller: new AdaptiveController({ initial: INITIAL_CONCURRENCY, max: 100 }), partitionRows: J, pollSeconds: [1, 3], jobRows: () => J, ...v.o });
      return `${(r.endToEndSeconds / lb).toFixed(2)}× (${(100 * r.firstPass).toFixed(1)})`.padStart(16);
    });
    console.log([`W=${W} ${skew}`.padEnd(16), ...cells].join(''));
  }
}
