/*
 * The live progress display (src/ux/progress.ts) on an emulated terminal (@xterm/headless,
 * 80×24 and smaller): the summary with totals and ETA is always on screen, only in-flight
 * partitions are listed and as many as fit, redraws (and a note printed above the display)
 * leave nothing in the scrollback, a clean
 * stop says "stopped" with the caller's lines and no ✘ or ETA; without a TTY one line per
 * interval (on the display's own clock); with --json nothing. The old engine snapshot still works.
 */
import { expect } from 'chai';
import xterm from '@xterm/headless';
import type { PartitionStatus, ProgressSnapshot } from '../../src/ledger/status-types.js';
import { LoadProgress } from '../../src/ux/progress.js';
import { frameLines } from '../../src/ux/frame.js';

const { Terminal } = xterm;

/** A snapshot of a load of `rows` rows over `parts` partitions, `step` of `steps` through it. */
function snapshot(step: number, steps: number, parts: number, rows: number, state: ProgressSnapshot['state'] = 'running'): ProgressSnapshot {
  const frac = step / steps;
  const per = Math.floor(rows / parts);
  const doneParts = Math.floor(parts * frac * 0.9);
  const running = Math.min(parts - doneParts, 30);
  const active: PartitionStatus[] = Array.from({ length: running }, (_, i) => {
    const index = doneParts + i;
    const read = Math.round(per * (0.2 + 0.6 * ((i * 7) % 10) / 10));
    return { index, state: 'running', lowerExclusive: null, upperInclusive: null, nullParent: false, plannedRows: per, read, loaded: read - 40, failed: 3, pending: 37, retriedRows: 12, jobs: 2 + (i % 3), inFlight: 1 };
  });
  const loaded = Math.round(rows * frac * 0.98);
  const failed = Math.round(rows * frac * 0.001);
  const read = Math.min(rows, loaded + failed + 5_000);
  return {
    runId: '20260105-090000-ab12',
    state,
    elapsedSeconds: 4 * step,
    totals: { sourceRows: rows, read, unread: rows - read, loaded, created: loaded, updated: 0, failed, pending: read - loaded - failed, retriedRows: 40 * step, lockErrors: 35 * step, successRate: loaded / rows, firstPassSuccessRate: 0.99 },
    jobs: { total: 10 * step, orgJobs: 10 * step, completed: 9 * step, inFlight: running, queued: 2, failedJobs: 0, retryJobs: step },
    concurrency: { limit: 30, inFlight: running },
    rowsPerSecond: 1234.4,
    etaSeconds: state === 'stopping' ? null : Math.max(0, (steps - step) * 4),
    apiCalls: 60 * step,
    orgLimits: { DailyBulkApiBatches: { max: 15_000, remaining: 14_800 - step }, DailyApiRequests: { max: 100_000, remaining: 99_000 - 6 * step } },
    partitions: { total: parts, done: doneParts, running, queued: parts - doneParts - running },
    active,
  };
}

/** A fake TTY stream that feeds an xterm of cols × rows. */
function terminal(cols: number, rows: number): { stream: NodeJS.WriteStream; term: InstanceType<typeof Terminal>; flush: () => Promise<void>; bytes: () => number } {
  // convertEol: LF moves to the line's start, as a tty's output processing (onlcr) does.
  const term = new Terminal({ cols, rows, scrollback: 1000, allowProposedApi: true, convertEol: true });
  let pending = '';
  let bytes = 0;
  const stream = {
    isTTY: true,
    columns: cols,
    rows,
    write(chunk: string): boolean {
      pending += chunk;
      bytes += Buffer.byteLength(chunk);
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  const flush = (): Promise<void> =>
    new Promise((resolve) => {
      const data = pending;
      pending = '';
      term.write(data, resolve);
    });
  return { stream, term, flush, bytes: () => bytes };
}

function screen(term: InstanceType<typeof Terminal>): string[] {
  const b = term.buffer.active;
  return Array.from({ length: term.rows }, (_, i) => b.getLine(b.baseY + i)?.translateToString(true) ?? '');
}

function scrollback(term: InstanceType<typeof Terminal>): string[] {
  const b = term.buffer.active;
  return Array.from({ length: b.baseY }, (_, i) => b.getLine(i)?.translateToString(true) ?? '');
}

const SUMMARY = /^(Rows|Speed|Jobs|Retries|API|Partitions) +\S/;

describe('progress display', () => {
  it('80×24, 30 partitions, 21–30 in flight: the summary with totals and ETA always on screen, in-flight partitions as many as fit, nothing left in the scrollback', async () => {
    const { stream, term, flush } = terminal(80, 24);
    // Earlier output, so the display starts at the bottom of a full screen.
    await new Promise<void>((r) => term.write(Array.from({ length: 30 }, (_, i) => `earlier line ${i}`).join('\r\n') + '\r\n', r));
    let now = 0;
    const p = new LoadProgress({ title: 'Loading 200,000 rows into Opportunity', jsonEnabled: false, stream, tickMs: 0, now: () => now });
    const before = scrollback(term).length;
    for (let step = 0; step <= 40; step++) {
      now += 250;
      p.update(snapshot(step, 40, 30, 200_000));
      if (step === 20) p.note('Warning: Stopping: no new jobs will start.');
      await flush();
      const shown = screen(term);
      expect(shown.some((l) => l.startsWith('Rows       ') && / loaded · [\d,]+ failed · [\d,]+ pending of 200,000$/.test(l)), `step ${step}: totals`).to.equal(true);
      expect(shown.some((l) => /^Speed      1,234 rows\/s · \S+( \S+)? elapsed · ETA /.test(l)), `step ${step}: ETA`).to.equal(true);
      expect(shown.some((l) => /^Jobs       \d+ in flight \/ limit 30 · /.test(l))).to.equal(true);
      expect(shown.some((l) => /^Retries    [\d,]+ rows retried · [\d,]+ lock errors$/.test(l))).to.equal(true);
      expect(shown.some((l) => /^API        [\d,]+ calls · org left: batches 14\.\dk\/15k, requests 9\d(\.\d)?k\/100k$/.test(l))).to.equal(true);
      expect(shown.some((l) => /^Partitions \d+ done · \d+ in flight · \d+ queued \(of 30\)$/.test(l))).to.equal(true);
      for (const l of shown) expect([...l].length, l).to.be.at.most(79);
      const inFlight = snapshot(step, 40, 30, 200_000).active.length;
      const listed = shown.filter((l) => /^ {2}\d+ +[\d,]+ +[\d,]+/.test(l)).length;
      const more = shown.find((l) => /^ {2}… and \d+ more in flight$/.test(l));
      if (inFlight > 14) {
        expect(listed + Number(/and (\d+) more/.exec(more ?? '')?.[1] ?? 0), `step ${step}`).to.equal(inFlight);
        expect(more, `step ${step}`).to.not.equal(undefined);
      } else expect(listed).to.equal(inFlight);
      // Redraws never push a line of the display into the scrollback.
      expect(scrollback(term).slice(before).filter((l) => SUMMARY.test(l) || /^Loading /.test(l)), `step ${step}`).to.deep.equal([]);
    }
    p.stop({ state: 'stopped', lines: ['Stopped cleanly: 12 jobs in flight are recorded.', 'Resume with: sf datacloud load resume -o prod --run-id 20260105-090000-ab12'] });
    await flush();
    const all = [...scrollback(term), ...screen(term)].join('\n');
    const shown = screen(term).join('\n');
    // A note printed during the run stays, once, above the display.
    expect(all.split('\n').filter((l) => l === 'Warning: Stopping: no new jobs will start.')).to.have.length(1);
    expect(shown).to.include('■ Stopped').and.include('Resume with: sf datacloud load resume -o prod --run-id 20260105-090000-ab12');
    expect(shown).to.match(/Rows {7}[\d,]+ loaded · [\d,]+ failed · [\d,]+ pending of 200,000/);
    expect(shown).to.not.include('ETA');
    expect(all).to.not.include('✘');
    p.update(snapshot(41, 40, 30, 200_000));
    await flush();
    expect(screen(term).join('\n')).to.equal(shown);
  });

  it('2,000,000 rows over 200 partitions: every frame fits 80×24 and a redraw writes a few kilobytes, not 200 stages', async () => {
    const { stream, term, flush, bytes } = terminal(80, 24);
    let now = 0;
    const p = new LoadProgress({ title: 'Loading 2,000,000 rows into Opportunity', jsonEnabled: false, stream, tickMs: 0, now: () => now });
    const sizes: number[] = [];
    for (let step = 0; step <= 100; step++) {
      now += 200;
      const s = snapshot(step, 100, 200, 2_000_000);
      const lines = frameLines(s, { title: 'Loading 2,000,000 rows into Opportunity', columns: 80, rows: 24 });
      expect(lines.length).to.be.at.most(23);
      for (const l of lines) expect([...l].length).to.be.at.most(79);
      const b0 = bytes();
      p.update(s);
      await flush();
      sizes.push(bytes() - b0);
      expect(screen(term).filter((l) => SUMMARY.test(l))).to.have.length(6);
    }
    expect(Math.max(...sizes)).to.be.below(4096);
    p.stop({ state: 'completed', lines: [] });
    await flush();
    expect(screen(term).join('\n')).to.include('✔ Completed with');
  });

  it('a short, narrow terminal (40×10) keeps the most important lines and cuts none past its width', async () => {
    const { stream, term, flush } = terminal(40, 10);
    const p = new LoadProgress({ title: 'Loading 200,000 rows into Opportunity', jsonEnabled: false, stream, tickMs: 0, now: () => 0 });
    p.update(snapshot(10, 40, 30, 200_000));
    await flush();
    const shown = screen(term).filter((l) => l.trim());
    expect(shown.length).to.be.at.most(9);
    for (const l of shown) expect([...l].length).to.be.at.most(39);
    expect(shown.some((l) => l.startsWith('Rows'))).to.equal(true);
    expect(shown.some((l) => l.startsWith('Speed'))).to.equal(true);
  });

  it('without a TTY (CI): one line per interval on the display\'s clock, not one per update; the end without ETA or ✘', () => {
    const out: string[] = [];
    const stream = { isTTY: false, write: (c: string) => out.push(c) } as unknown as NodeJS.WriteStream;
    let now = 0;
    const p = new LoadProgress({ title: 'Loading', jsonEnabled: false, stream, ciIntervalMs: 5000, now: () => now });
    for (let step = 0; step < 100; step++) {
      p.update(snapshot(step, 100, 30, 200_000));
      now += 200; // 100 updates over 20 s
    }
    expect(out).to.have.length(4);
    for (const l of out) expect(l).to.match(/^\[\S+( \S+)?\] [\d.]+% done: [\d,]+ loaded, [\d,]+ failed, [\d,]+ pending of 200,000 · 1,234 rows\/s · ETA \S+.* · jobs \d+\/30 · [\d,]+ retried, [\d,]+ lock errors · [\d,]+ API calls · partitions \d+\/30 done\n$/);
    p.update(snapshot(100, 100, 30, 200_000, 'stopping'));
    p.stop({ state: 'stopped', lines: ['Resume with: sf datacloud load resume -o prod --run-id 20260105-090000-ab12'] });
    const tail = out.slice(4).join('');
    expect(tail).to.match(/ · ■ Stopped\nResume with: sf datacloud load resume -o prod --run-id 20260105-090000-ab12\n$/);
    expect(tail).to.not.include('ETA').and.not.include('✘');
  });

  it('--json: nothing at all, not even at the end', () => {
    const out: string[] = [];
    const stream = { isTTY: true, columns: 80, rows: 24, write: (c: string) => out.push(c) } as unknown as NodeJS.WriteStream;
    const p = new LoadProgress({ title: 'Loading', jsonEnabled: true, stream });
    p.update(snapshot(1, 10, 3, 1000));
    p.stop({ state: 'completed', lines: ['done'] });
    expect(out).to.deep.equal([]);
  });
});
