/*
 * sf datacloud load report: the seed's tables for one run, the comparison of several,
 * its JSON against schemas/report.json, and the HTML page rendered by headless Chromium
 * (no script, no network) with a drawn chart per run.
 */
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { RunFixture, ROOT, cli } from '../helpers/runs.js';

const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addSchema(JSON.parse(readFileSync(join(ROOT, 'schemas/status.json'), 'utf8')));
const reportSchema = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'schemas/report.json'), 'utf8')));
const T0 = Date.parse('2026-01-05T09:00:00.000Z');

type Tuning = { runId: string; name: string; pacing: Record<string, unknown>; failEvery: number; retried: number };
const TUNINGS: Tuning[] = [
  { runId: '20260105-090000-aaaa', name: 'seed', pacing: { profile: 'seed', strategy: 'fixed', partitionBy: 'key', rowsPerJob: 500, staggerSeconds: 5400, delaySeconds: [20, 30], retryDelaysSeconds: [2, 5, 10], maxAttempts: 4 }, failEvery: 50, retried: 12 },
  { runId: '20260106-090000-bbbb', name: 'default', pacing: {}, failEvery: 400, retried: 3 },
  { runId: '20260107-090000-cccc', name: 'no-retry', pacing: { maxAttempts: 1 }, failEvery: 9, retried: 0 },
];

/** Three finished runs of 3 × 6,000 rows, 36 jobs each over an hour, with lock and validation failures. */
function threeRuns(root: string): RunFixture[] {
  return TUNINGS.map((t, n) => {
    const f = new RunFixture(root, { runId: t.runId, name: t.name, partitionRows: [6000, 6000, 6000], pacing: t.pacing as never, start: T0 + n * 86_400_000 });
    f.session('start', 0, 3600, 'completed');
    let key = 0;
    for (let i = 0; i < 36; i++) {
      const keys = Array.from({ length: Math.floor(500 / t.failEvery) + (i % 3) }, () => `${t.name}-${key++}`);
      const half = Math.ceil(keys.length / 2);
      f.job({
        partition: i % 3,
        rows: 500,
        at: 60 + i * 95 + (i % 3) * 7,
        requeued: t.retried,
        succeeded: 500 - keys.length,
        failures: { UNABLE_TO_LOCK_ROW: keys.slice(0, half), FIELD_CUSTOM_VALIDATION_EXCEPTION: keys.slice(half) },
        transientCodes: ['UNABLE_TO_LOCK_ROW'],
      });
    }
    f.finishPartitions();
    return f;
  });
}

function chromiumPath(): string | undefined {
  for (const c of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) if (existsSync(c)) return c;
  for (const c of ['chromium', 'chromium-browser']) {
    const r = spawnSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return undefined;
}

/** The <svg> elements of a serialized DOM with their attributes and inner markup. */
function svgs(dom: string): Array<{ attrs: Record<string, string>; inner: string }> {
  const out: Array<{ attrs: Record<string, string>; inner: string }> = [];
  for (const m of dom.matchAll(/<svg\b([^>]*)>([\s\S]*?)<\/svg>/g)) {
    const attrs: Record<string, string> = {};
    for (const a of m[1].matchAll(/([\w:-]+)="([^"]*)"/g)) attrs[a[1]] = a[2];
    out.push({ attrs, inner: m[2] });
  }
  return out;
}

describe('report', function () {
  this.timeout(180_000);
  const root = mkdtempSync(join(tmpdir(), 'dcl-report-'));
  const fixtures = threeRuns(root);
  const ids = TUNINGS.map((t) => t.runId);

  it('one run, table: the final-results table, partitions, failures by code with sample keys, throughput over time', async () => {
    const res = await cli(['datacloud', 'load', 'report', '--runs-dir', root, '--run-id', ids[0]]);
    expect(res.code, res.stderr).to.equal(0);
    for (const metric of ['Total Records', 'Records Loaded', 'Success Rate', 'Failed Records', 'Duration', 'Throughput', 'Bulk Jobs', 'API Calls', 'Partitions', 'Partition Stagger', 'Job Delay', 'Retries Used']) {
      expect(res.stdout, metric).to.include(metric);
    }
    expect(res.stdout).to.match(/Total Records\s+18,000/).and.match(/Partition Stagger\s+1\.5h/).and.match(/Job Delay\s+20-30s/).and.match(/Duration\s+1h 0m/);
    expect(res.stdout).to.match(/UNABLE_TO_LOCK_ROW \(transient\)\s+\d+\s+seed-0, /).and.include('FIELD_CUSTOM_VALIDATION_EXCEPTION');
    expect(res.stdout).to.include('Throughput over time').and.include('P2');
  });

  it('several runs, markdown: a comparison like the seed\'s Test3–Test8 table, then each run', async () => {
    const res = await cli(['datacloud', 'load', 'report', '--runs-dir', root, '--all', '--format', 'markdown']);
    expect(res.code, res.stderr).to.equal(0);
    expect(res.stdout).to.include('| Run | Profile | Rows/Job | Partitions | Stagger | Delay | Retry | Success | Failed | Duration | Jobs | Rows/min |');
    expect(res.stdout).to.match(/\| 20260105-090000-aaaa \(seed\) \| seed \(fixed\) \| 500 \| 3 \| 1\.5h \| 20-30s \| 3× backoff 2s→5s→10s \|/);
    expect(res.stdout).to.match(/\| 20260107-090000-cccc \(no-retry\) \| default \(adaptive\) \| 1,000 \| 3 \| None \| None \| No \|/);
    for (const id of ids) expect(res.stdout).to.include(`### Run ${id}`);
  });

  it('--json and --format json match schemas/report.json; --run-id twice gives a comparison', async () => {
    const res = await cli(['datacloud', 'load', 'report', '--runs-dir', root, '--run-id', ids[0], '--run-id', ids[2], '--json']);
    expect(res.code, res.stderr).to.equal(0);
    expect(reportSchema(res.json.result), JSON.stringify(reportSchema.errors)).to.equal(true);
    expect(res.json.result.comparison.map((c: { runId: string }) => c.runId)).to.deep.equal([ids[0], ids[2]]);
    const seedRun = res.json.result.runs[0];
    expect(seedRun.throughput.buckets.length).to.be.greaterThan(3);
    const sum = seedRun.throughput.buckets.reduce((n: number, b: { loaded: number }) => n + b.loaded, 0);
    expect(sum).to.equal(seedRun.status.totals.loaded);
    const plain = await cli(['datacloud', 'load', 'report', '--runs-dir', root, '--format', 'json']);
    const parsed = JSON.parse(plain.stdout);
    expect(reportSchema(parsed), JSON.stringify(reportSchema.errors)).to.equal(true);
    expect(parsed.comparison).to.equal(null);
    expect(parsed.runs[0].status.runId).to.equal(ids[2]);
  });

  it('an unknown run id exits 1 and lists the runs', async () => {
    const res = await cli(['datacloud', 'load', 'report', '--runs-dir', root, '--run-id', 'nope', '--json']);
    expect(res.code).to.equal(1);
    expect(res.json.name).to.equal('UnknownRunIdError');
    expect(res.json.actions.join(' ')).to.include(ids[0]);
  });

  it('html: writes report-<runId>.html in the current folder by default and says where', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'dcl-cwd-'));
    const res = await cli(['datacloud', 'load', 'report', '--runs-dir', root, '--run-id', ids[1], '--format', 'html'], {}, { cwd });
    expect(res.code, res.stderr).to.equal(0);
    const file = join(cwd, `report-${ids[1]}.html`);
    expect(res.stdout).to.include(file);
    expect(readFileSync(file, 'utf8')).to.match(/^<!DOCTYPE html>/);
  });

  it('html for three runs, rendered by headless Chromium: each run has drawn svg.chart elements; no script, no network', async () => {
    const chromium = chromiumPath();
    if (!chromium) {
      expect.fail('Chromium is needed for this test and is not installed. Install it with: apt-get update && apt-get install -y chromium');
    }
    const out = mkdtempSync(join(tmpdir(), 'dcl-html-'));
    const file = join(out, 'three.html');
    const res = await cli(['datacloud', 'load', 'report', '--runs-dir', root, '--run-id', ids[0], '--run-id', ids[1], '--run-id', ids[2], '--format', 'html', '--output-file', file, '--json']);
    expect(res.code, res.stderr).to.equal(0);
    expect(res.json.result.outputFile).to.equal(file);
    const html = readFileSync(file, 'utf8');
    expect(html).not.to.match(/<script|<link\b|<img\b|@import|url\(/i);
    expect(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, '')).not.to.match(/https?:\/\//);

    const profile = mkdtempSync(join(tmpdir(), 'dcl-chromium-'));
    const dom = execFileSync(
      chromium!,
      ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`, '--dump-dom', `file://${file}`],
      { encoding: 'utf8', timeout: 90_000, stdio: ['ignore', 'pipe', 'ignore'] }
    );
    expect(dom).to.include('<section class="run"');
    const charts = svgs(dom).filter((s) => (s.attrs.class ?? '').split(/\s+/).includes('chart'));
    for (const id of ids) {
      const mine = charts.filter((s) => s.attrs['data-run-id'] === id);
      expect(mine.map((s) => s.attrs['data-chart']).sort(), id).to.deep.equal(['outcome', 'throughput']);
      for (const s of mine) {
        const drawn = (s.inner.match(/<(path|rect)\b/g) ?? []).length;
        expect(drawn, `${id} ${s.attrs['data-chart']}`).to.be.greaterThan(0);
      }
      const throughput = mine.find((s) => s.attrs['data-chart'] === 'throughput')!;
      const overall = /<path class="series overall" d="([^"]+)"/.exec(throughput.inner);
      expect(overall, `${id}: overall line`).to.not.equal(null);
      expect((overall![1].match(/L/g) ?? []).length, `${id}: overall line points`).to.be.greaterThan(3);
      expect((throughput.inner.match(/class="series partition"/g) ?? []).length).to.equal(3);
      const outcome = mine.find((s) => s.attrs['data-chart'] === 'outcome')!;
      expect(outcome.inner).to.match(/<rect class="bar loaded"/).and.match(/<rect class="bar failed"/);
    }
    const comparison = charts.find((s) => s.attrs['data-chart'] === 'comparison');
    expect(comparison?.attrs['data-run-ids']).to.equal(ids.join(','));
    expect(fixtures).to.have.length(3);
  });
});
