/*
 * The matrix as Markdown tables (for the README), from a `bench:locks --matrix --out` file:
 *   node --import tsx scripts/bench/markdown.ts .scratch/matrix.json
 * Success table: first pass % per strategy (default: first pass / final). Time table:
 * end-to-end simulated seconds (server seconds) per strategy, and the cell's lower bound.
 */
import { readFileSync } from 'node:fs';

type S = { name: string; firstPassSuccessRate: number; finalSuccessRate: number; simulatedSeconds: number; serverSeconds: number; jobs: number; lockErrors: number; maxJobsQueued?: number };
type Cell = { workers: number; skew: string; contention: string; lowerBoundSeconds: number; strategies: S[] };

const doc = JSON.parse(readFileSync(process.argv[2], 'utf8')) as { cells: Cell[] };
const names = ['seed-test3', 'seed-test4', 'seed-test7', 'seed-test8', 'plugin-data', 'plugin-data-sorted', 'default'];
const pct = (x: number): string => `${(100 * x).toFixed(2)}`;
const cellName = (c: Cell): string => `W=${c.workers}, ${c.skew}, ${c.contention}`;
const by = (c: Cell, n: string): S | undefined => c.strategies.find((s) => s.name === n);

const lines: string[] = [];
lines.push(`| cell | ${names.join(' | ')} |`, `|---|${names.map(() => '---:').join('|')}|`);
for (const c of doc.cells) {
  lines.push(`| ${cellName(c)} | ${names.map((n) => {
    const s = by(c, n);
    if (!s) return '';
    return n === 'default' ? `${pct(s.firstPassSuccessRate)} / **${pct(s.finalSuccessRate)}**` : pct(s.firstPassSuccessRate);
  }).join(' | ')} |`);
}
lines.push('');
lines.push(`| cell | bound | ${names.join(' | ')} | default ÷ bound | jobs, lock errors, most queued (default) |`, `|---|---:|${names.map(() => '---:').join('|')}|---:|---:|`);
for (const c of doc.cells) {
  const d = by(c, 'default');
  lines.push(
    `| ${cellName(c)} | ${c.lowerBoundSeconds.toFixed(0)} | ${names.map((n) => {
      const s = by(c, n);
      if (!s) return '';
      const t = `${s.simulatedSeconds.toFixed(0)} (${s.serverSeconds.toFixed(0)})`;
      return n === 'default' ? `**${t}**` : t;
    }).join(' | ')} | ${d ? (d.simulatedSeconds / c.lowerBoundSeconds).toFixed(2) + '×' : ''} | ${d ? `${d.jobs}, ${d.lockErrors}, ${d.maxJobsQueued ?? ''}` : ''} |`
  );
}
process.stdout.write(lines.join('\n') + '\n');
