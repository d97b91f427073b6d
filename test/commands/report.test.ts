/*
 * sf datacloud load report through `node bin/run.js`, on simulated run directories (jobs of
 * tens of seconds, a changing concurrency limit, lock errors retried in later jobs, a stop
 * and a resume): the seed's tables with state and settings, the comparison with unfinished
 * runs set apart, --json in the v2 names against schemas/report.json, where each format
 * goes, badges per state, and the HTML page rendered by headless Chromium (no script, no
 * network) with its charts, ticks, marks and the retry-failures command.
 */
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { RunFixture, ROOT, cli, deadPid } from '../helpers/runs.js';
import { simulateRun, type SimSpec } from '../report/simulate.js';

const T0 = Date.parse('2026-01-05T09:00:00.000Z');
const DAY = 86_400_000;

/** schemas/status.json, or (until the ledger's v2 schema lands) a stand-in that checks the v2 top level. */
function statusSchema(): object {
  const real = JSON.parse(readFileSync(join(ROOT, 'schemas/status.json'), 'utf8'));
  if (real.properties?.schemaVersion?.const === 2) return real;
  return {
    $id: 'https://datacloud-load/schemas/status.json',
    type: 'object',
    required: ['schemaVersion', 'runId', 'state', 'health', 'org', 'totals', 'jobs', 'timing', 'failuresByCode', 'settings', 'files', 'problems', 'duplicates'],
    properties: {
      schemaVersion: { const: 2 },
      org: { type: 'object', required: ['username', 'alias'] },
      totals: { type: 'object', required: ['sourceRows', 'read', 'unread', 'loaded', 'failed', 'pending', 'retriedRows', 'lockErrors', 'successRate'] },
      timing: { type: 'object', required: ['elapsedSeconds', 'rowsPerSecond', 'sessions'] },
      files: { type: 'object', required: ['failures', 'lock'] },
    },
  };
}
const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addSchema(statusSchema());
const reportSchema = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'schemas/report.json'), 'utf8')));

const IDS = { resumed: '20260105-090000-dflt', seed: '20260106-090000-seed', stopped: '20260107-090000-c4xx' };
const SPECS: SimSpec[] = [
  {
    runId: IDS.resumed, name: 'opportunities', start: T0, rows: 60_000, partitions: 12, rowsPerJob: 2_500, jobSeconds: [40, 60], lockRate: 0.01, failRate: 0.0005,
    sessions: [{ command: 'start', start: 0, end: 100, outcome: 'stopped' }, { command: 'resume', start: 1300 }],
    limits: [{ at: 0, limit: 12 }, { at: 70, limit: 6 }, { at: 1320, limit: 8 }],
  },
  {
    runId: IDS.seed, name: 'opportunities', start: T0 + DAY, rows: 20_000, partitions: 5, rowsPerJob: 500, jobSeconds: [20, 30], lockRate: 0.05, failRate: 0,
    pacing: { profile: 'seed', strategy: 'fixed', partitionBy: 'key', staggerSeconds: 5400, delaySeconds: [20, 30], retryDelaysSeconds: [2, 5, 10], maxAttempts: 4, partitions: 5 },
    sessions: [{ command: 'start', start: 0 }], limits: [{ at: 0, limit: 5 }],
  },
  {
    runId: IDS.stopped, name: 'opportunities', start: T0 + 2 * DAY, rows: 60_000, partitions: 12, rowsPerJob: 2_500, jobSeconds: [40, 60], lockRate: 0.002, failRate: 0.0002,
    sessions: [{ command: 'start', start: 0, end: 200, outcome: 'stopped' }], limits: [{ at: 0, limit: 4 }],
  },
];

function chromiumPath(): string | undefined {
  for (const c of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) if (existsSync(c)) return c;
  for (const c of ['chromium', 'chromium-browser']) {
    const r = spawnSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return undefined;
}

type Svg = { attrs: Record<string, string>; inner: string };

/** The <svg> elements of a serialized DOM with their attributes and inner markup. */
function svgs(dom: string): Svg[] {
  const out: Svg[] = [];
  for (const m of dom.matchAll(/<svg\b([^>]*)>([\s\S]*?)<\/svg>/g)) {
    const attrs: Record<string, string> = {};
    for (const a of m[1].matchAll(/([\w:-]+)="([^"]*)"/g)) attrs[a[1]] = a[2];
    out.push({ attrs, inner: m[2] });
  }
  return out;
}

/** A tick label such as 0, 250, 2.5k, 1.5M is 1, 2, 2.5 or 5 × 10^n times an integer step. */
function tickValue(label: string): number {
  const m = /^([\d.,]+)([kM]?)$/.exec(label);
  if (!m) throw new Error(`not a tick label: ${label}`);
  return Number(m[1].replace(/,/g, '')) * (m[2] === 'k' ? 1e3 : m[2] === 'M' ? 1e6 : 1);
}

function isNiceStep(step: number): boolean {
  const pow = 10 ** Math.floor(Math.log10(step));
  return [1, 2, 2.5, 5, 10].some((f) => Math.abs(step / pow - f) < 1e-9);
}

describe('report', function () {
  this.timeout(180_000);
  const root = mkdtempSync(join(tmpdir(), 'dcl-report-'));
  for (const s of SPECS) simulateRun(root, s);

  it('one run, table: final results with state and lock errors, failures with the failures file and a runnable retry-failures command, the run over time with its stop and resume', async () => {
    const json = (await cli(['datacloud', 'load', 'report', '--runs-dir', root, '--run-id', IDS.resumed, '--json'])).json.result;
    const status = json.runs[0].status;
    expect(status.totals.failed).to.be.greaterThan(0);
    const res = await cli(['datacloud', 'load', 'report', '--runs-dir', root, '--run-id', IDS.resumed]);
    expect(res.code, res.stderr).to.equal(0);
    for (const metric of ['Total Records', 'Records Loaded', 'Success Rate', 'Failed Records', 'Duration', 'Throughput', 'Bulk Jobs', 'Max Concurrency', 'API Calls', 'Partitions', 'Partition Stagger', 'Job Delay', 'Retries Used', 'Lock Errors']) {
      expect(res.stdout, metric).to.include(metric);
    }
    const failed = status.totals.failed.toLocaleString('en-US');
    expect(res.stdout).to.include(`=== Run ${IDS.resumed} (opportunities): ExtOpportunities__dlm → Opportunity, completed with ${failed} failed rows ===`);
    expect(res.stdout).to.match(new RegExp(`Lock Errors\\s+${status.totals.lockErrors.toLocaleString('en-US')}\\s`));
    expect(res.stdout).to.include(join(root, IDS.resumed, 'failures.ndjson'));
    const command = `sf datacloud load retry-failures -o test@example.com --run-id ${IDS.resumed} --runs-dir ${root}`;
    expect(res.stdout).to.include(`Send them again with: ${command}`);
    expect(json.runs[0].retryCommand).to.equal(command);
    // As printed, the command parses: it gets as far as looking up the org (not logged in here).
    const retry = await cli([...command.replace(/^sf /, '').split(' '), '--json']);
    expect(retry.code).to.equal(1);
    expect(retry.json.name, retry.stdout).to.equal('NamedOrgNotFoundError');
    // Over time: at most 24 rows, then the stop and the resume 20 minutes later.
    const over = res.stdout.slice(res.stdout.indexOf('--- Over time'), res.stdout.indexOf('--- Sessions'));
    const rows = over.split('\n').filter((l) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s/.test(l));
    expect(rows.length).to.be.within(10, 24);
    expect(over).to.match(/At 1m 40s: stopped at 2026-01-05 09:01:40\./).and.match(/At 1m 40s: resume at 2026-01-05 09:21:40, 20m 0s after the stop\./);
    expect(res.stdout).to.match(/start\s+2026-01-05 09:00:00\s+2026-01-05 09:01:40\s+stopped\s+1m 40s/);
    expect(res.stdout).to.match(/maxConcurrency\s+12\s/).and.match(/ExternalId__c\s+External_ID__c\s+key/);
  });

  it('several runs, markdown and table: a comparison with state and settings columns, finished runs first, the stopped run last', async () => {
    const md = await cli(['datacloud', 'load', 'report', '--runs-dir', root, '--all', '--format', 'markdown']);
    expect(md.code, md.stderr).to.equal(0);
    expect(md.stdout).to.include('| Run | Started (UTC) | State | Profile | Rows/Job | Max conc. | Partitions | Stagger | Delay | Retry | Success | Failed | Duration | Jobs | Rows/min |');
    const comparison = md.stdout.slice(0, md.stdout.indexOf('### Run'));
    const rows = comparison.split('\n').filter((l) => /^\| 2026/.test(l));
    expect(rows.map((r) => r.split(' | ')[0].slice(2))).to.deep.equal([IDS.resumed, IDS.seed, IDS.stopped]);
    expect(rows[0]).to.match(/^\| 20260105-090000-dflt \| 2026-01-05 09:00 \| completed with \d+ failed rows \| default \(adaptive\) \| 2,500 \| 12 \| 12 \| None \| None \| 3× backoff 5s→15s→45s \|/);
    expect(rows[1]).to.match(/^\| 20260106-090000-seed \| 2026-01-06 09:00 \| completed \| seed \(fixed\) \| 500 \| 5 \| 5 \| 1\.5h \| 20-30s \| 3× backoff 2s→5s→10s \| 100\.00% \| 0 \|/);
    expect(rows[2]).to.match(/^\| 20260107-090000-c4xx \| 2026-01-07 09:00 \| stopped \| default \(adaptive\) \| 2,500 \| 4 \| 12 \|/);
    for (const id of Object.values(IDS)) expect(md.stdout).to.include(`### Run ${id}`);
    expect(md.stdout).to.include(`\`sf datacloud load retry-failures -o test@example.com --run-id ${IDS.resumed} --runs-dir ${root}\``);

    const table = await cli(['datacloud', 'load', 'report', '--runs-dir', root, '--run-id', IDS.stopped, '--run-id', IDS.resumed]);
    expect(table.code, table.stderr).to.equal(0);
    const head = table.stdout.split('\n').find((l) => l.startsWith('Run '))!;
    expect(head).to.match(/^Run\s+Started \(UTC\)\s+State\s+Profile\s+Rows\/Job\s+Max conc\.\s+Partitions/);
    const body = table.stdout.split('\n').filter((l) => /^2026\d{4}-/.test(l));
    expect(body[0]).to.match(/^20260105-090000-dflt\s+2026-01-05 09:00\s+completed with \d+ failed rows\s+default \(adaptive\)\s+2,500\s+12\s+12\s/);
    expect(body[1]).to.match(/^20260107-090000-c4xx\s+2026-01-07 09:00\s+stopped\s+default \(adaptive\)\s+2,500\s+4\s+12\s/);
  });

  it('--json: schemas/report.json, RunStatus v2 names, the series adds up, no extrapolated tail, marks and limits; --format json is refused', async () => {
    const res = await cli(['datacloud', 'load', 'report', '--runs-dir', root, '--run-id', IDS.stopped, '--run-id', IDS.resumed, '--json']);
    expect(res.code, res.stderr).to.equal(0);
    const r = res.json.result;
    expect(reportSchema(r), JSON.stringify(reportSchema.errors)).to.equal(true);
    expect(r.schemaVersion).to.equal(2);
    expect(r.outputFile).to.equal(null);
    expect(r.runs.map((x: { status: { runId: string } }) => x.status.runId)).to.deep.equal([IDS.resumed, IDS.stopped]);
    expect(r.comparison.map((c: { runId: string; unfinished: boolean }) => [c.runId, c.unfinished])).to.deep.equal([[IDS.resumed, false], [IDS.stopped, true]]);
    const run = r.runs[0];
    expect(run.status.schemaVersion).to.equal(2);
    for (const k of ['unread', 'lockErrors', 'pending', 'retriedRows']) expect(run.status.totals, k).to.have.property(k);
    expect(run.status.timing).to.have.property('rowsPerSecond');
    expect(run.status.totals.lockErrors).to.be.greaterThan(0);
    const s = run.series;
    const sum = (k: string): number => s.buckets.reduce((n: number, b: Record<string, number>) => n + b[k], 0);
    expect(sum('loaded')).to.equal(run.status.totals.loaded);
    expect(sum('failed')).to.equal(run.status.totals.failed);
    expect(sum('lockErrors')).to.equal(run.status.totals.lockErrors);
    expect(s.buckets.length).to.be.within(20, 60);
    const last = s.buckets[s.buckets.length - 1];
    expect(last.seconds).to.be.at.least(s.bucketSeconds / 2);
    expect(last.perMinute).to.be.at.most(Math.max(...s.buckets.slice(0, -1).map((b: { perMinute: number }) => b.perMinute)));
    expect(Math.max(...s.buckets.map((b: { peakJobsInFlight: number }) => b.peakJobsInFlight))).to.equal(12);
    expect(s.limit).to.deep.equal([{ offsetSeconds: 0, limit: 12 }, { offsetSeconds: 70, limit: 6 }, { offsetSeconds: 120, limit: 8 }]);
    expect(s.marks.map((m: { kind: string; what: string; offsetSeconds: number; gapSeconds: number | null }) => [m.kind, m.what, m.offsetSeconds, m.gapSeconds])).to.deep.equal([
      ['stop', 'stopped', 100, null],
      ['resume', 'resume', 100, 1200],
    ]);
    expect(r.runs[1].series.marks.map((m: { kind: string; what: string }) => [m.kind, m.what])).to.deep.equal([['end', 'stopped']]);

    const bad = await cli(['datacloud', 'load', 'report', '--runs-dir', root, '--format', 'json']);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.match(/table, markdown, html/);
  });

  it('where it goes: every format to stdout (html too) unless --output-file; --json prints only JSON; an unknown run id exits 1 and lists the runs', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'dcl-cwd-'));
    const html = await cli(['datacloud', 'load', 'report', '--runs-dir', root, '--run-id', IDS.seed, '--format', 'html'], {}, { cwd });
    expect(html.code, html.stderr).to.equal(0);
    expect(html.stdout).to.match(/^<!DOCTYPE html>/).and.match(/<\/html>\n$/);
    expect(readdirSync(cwd)).to.deep.equal([]);
    const file = join(cwd, 'r.html');
    const toFile = await cli(['datacloud', 'load', 'report', '--runs-dir', root, '--run-id', IDS.seed, '--format', 'html', '--output-file', file, '--json']);
    expect(toFile.code, toFile.stderr).to.equal(0);
    expect(toFile.json.result.outputFile).to.equal(file);
    const unstamped = (h: string): string => h.replace(/Generated \S+ by/, 'Generated … by');
    expect(unstamped(readFileSync(file, 'utf8'))).to.equal(unstamped(html.stdout));
    const md = join(cwd, 'r.md');
    const mdRes = await cli(['datacloud', 'load', 'report', '--runs-dir', root, '--run-id', IDS.seed, '--format', 'markdown', '--output-file', md]);
    expect(mdRes.stdout.trim()).to.equal(`Wrote the markdown report of run ${IDS.seed} to ${md}`);
    expect(readFileSync(md, 'utf8')).to.match(/^## Run 20260106-090000-seed/);
    const unknown = await cli(['datacloud', 'load', 'report', '--runs-dir', root, '--run-id', 'nope', '--json']);
    expect(unknown.code).to.equal(1);
    expect(unknown.json.name).to.equal('UnknownRunIdError');
    expect(unknown.json.actions.join(' ')).to.include(IDS.seed);
  });

  it('badges: completed, completed with N failed rows, stopped, crashed and in progress each read differently', async () => {
    const broot = mkdtempSync(join(tmpdir(), 'dcl-badges-'));
    const clean = new RunFixture(broot, { runId: '20260101-000000-okok', partitionRows: [1000], start: T0 });
    clean.session('start', 0, 60, 'completed');
    clean.job({ partition: 0, rows: 1000, at: 50, startedAt: 5 });
    clean.finishPartitions();
    const partial = new RunFixture(broot, { runId: '20260102-000000-part', partitionRows: [1000], start: T0 + DAY });
    partial.session('start', 0, 60, 'completed');
    partial.job({ partition: 0, rows: 1000, at: 50, startedAt: 5, failures: { FIELD_CUSTOM_VALIDATION_EXCEPTION: [1, 2, 3] } });
    partial.finishPartitions();
    const stopped = new RunFixture(broot, { runId: '20260103-000000-stop', partitionRows: [1000, 1000], start: T0 + 2 * DAY });
    stopped.session('start', 0, 60, 'stopped');
    stopped.job({ partition: 0, rows: 1000, at: 50, startedAt: 5 });
    const crashed = new RunFixture(broot, { runId: '20260104-000000-boom', partitionRows: [1000, 1000], start: T0 + 3 * DAY });
    crashed.session('start', 0);
    crashed.job({ partition: 0, rows: 1000, at: 50, startedAt: 5 });
    crashed.heartbeat(await deadPid(), 55);
    const live = new RunFixture(broot, { runId: '20260105-000000-live', partitionRows: [1000, 1000], start: Date.now() - 60_000 });
    live.session('start', 0);
    live.job({ partition: 0, rows: 1000, at: 50, startedAt: 5 });
    live.heartbeat(process.pid, 59);
    const res = await cli(['datacloud', 'load', 'report', '--runs-dir', broot, '--all', '--format', 'html']);
    expect(res.code, res.stderr).to.equal(0);
    const badges = [...res.stdout.matchAll(/<h2>Run (\S+) <span class="badge (\w+)" data-state="(\w+)">([^<]+)<\/span>/g)].map((m) => [m[1], m[2], m[3], m[4]]);
    expect(badges).to.deep.equal([
      ['20260101-000000-okok', 'ok', 'completed', 'completed'],
      ['20260102-000000-part', 'warn', 'completed', 'completed with 3 failed rows'],
      ['20260103-000000-stop', 'neutral', 'stopped', 'stopped'],
      ['20260104-000000-boom', 'bad', 'crashed', 'crashed'],
      ['20260105-000000-live', 'info', 'running', 'in progress'],
    ]);
    expect(res.stdout).to.match(/Not finished \(3\)/);
  });

  it('html for three runs, rendered by headless Chromium: charts per run with nice ticks, axis labels, stop/resume marks, the limit; comparison charts with the stopped run set apart; no script, no network', async () => {
    const chromium = chromiumPath();
    if (!chromium) expect.fail('Chromium is needed for this test and is not installed. Install it with: apt-get update && apt-get install -y chromium');
    const out = mkdtempSync(join(tmpdir(), 'dcl-html-'));
    const file = join(out, 'three.html');
    const res = await cli(['datacloud', 'load', 'report', '--runs-dir', root, '--all', '--format', 'html', '--output-file', file]);
    expect(res.code, res.stderr).to.equal(0);
    const html = readFileSync(file, 'utf8');
    expect(html).not.to.match(/<script|<link\b|<img\b|@import|url\((?!#)/i);
    expect(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, '')).not.to.match(/https?:\/\/(?!example\.my\.salesforce\.com)/);

    const profile = mkdtempSync(join(tmpdir(), 'dcl-chromium-'));
    const dom = execFileSync(
      chromium!,
      ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`, '--dump-dom', `file://${file}`],
      { encoding: 'utf8', timeout: 90_000, stdio: ['ignore', 'pipe', 'ignore'] }
    );
    expect(dom).to.include('<section class="run"');
    const charts = svgs(dom).filter((s) => (s.attrs.class ?? '').split(/\s+/).includes('chart'));
    for (const id of Object.values(IDS)) {
      const wide = charts.filter((s) => s.attrs['data-run-id'] === id && s.attrs['data-layout'] !== 'narrow');
      const narrow = charts.filter((s) => s.attrs['data-run-id'] === id && s.attrs['data-layout'] === 'narrow');
      expect(wide.map((s) => s.attrs['data-chart']), id).to.deep.equal(['outcome', 'throughput', 'concurrency', 'errors']);
      expect(narrow.map((s) => s.attrs['data-chart']), id).to.deep.equal(['throughput', 'concurrency', 'errors']);
      const throughput = wide.find((s) => s.attrs['data-chart'] === 'throughput')!;
      const line = /<path class="series loaded" d="([^"]+)"/.exec(throughput.inner);
      expect((line![1].match(/L/g) ?? []).length, `${id}: throughput points`).to.be.greaterThan(30);
      expect(throughput.inner).to.match(/class="axis-label y"[^>]*>rows \/ min</).and.match(/class="axis-label x"[^>]*>session time/);
      for (const chart of wide.filter((s) => s.attrs['data-chart'] !== 'outcome')) {
        const ticks = [...chart.inner.matchAll(/<text class="tick y"[^>]*>([^<]+)</g)].map((m) => tickValue(m[1]));
        expect(ticks[0], `${id} ${chart.attrs['data-chart']}`).to.equal(0);
        expect(ticks.length).to.be.within(3, 7);
        const step = ticks[1] - ticks[0];
        expect(isNiceStep(step), `${id} ${chart.attrs['data-chart']} step ${step}`).to.equal(true);
        ticks.forEach((t, i) => expect(Math.abs(t - i * step)).to.be.below(1e-6));
      }
      const conc = wide.find((s) => s.attrs['data-chart'] === 'concurrency')!;
      expect(conc.inner).to.match(/<path class="series in-flight"/).and.match(/<path class="series limit"/);
      const errors = wide.find((s) => s.attrs['data-chart'] === 'errors')!;
      expect(errors.inner).to.match(/<rect class="bar lock"/).and.match(/<rect class="bar retried"/);
    }
    const resumed = charts.find((s) => s.attrs['data-run-id'] === IDS.resumed && s.attrs['data-chart'] === 'throughput')!;
    expect(resumed.inner).to.match(/<path class="mark stop resume"/).and.match(/>1 stopped, then resume</);
    expect(dom).to.include('<b>stopped</b> 2026-01-05 09:01:40; resume began 2026-01-05 09:21:40, 20m 0s later');
    for (const chart of ['compare-throughput', 'compare-duration', 'compare-success', 'compare-failed']) {
      const c = charts.find((s) => s.attrs['data-chart'] === chart)!;
      expect(c?.attrs['data-run-ids'], chart).to.equal([IDS.resumed, IDS.seed, IDS.stopped].join(','));
      expect((c.inner.match(/<rect class="bar unfinished"/g) ?? []).length, chart).to.equal(1);
      expect(c.inner).to.match(/class="separator"/);
    }
    expect(dom).to.match(/<tr class="unfinished" data-run-id="20260107-090000-c4xx">/);
    expect(dom).to.include(`sf datacloud load retry-failures -o test@example.com --run-id ${IDS.resumed} --runs-dir ${root}`);
    expect(dom).to.include(join(root, IDS.resumed, 'failures.ndjson'));
  });
});
