/*
 * The adaptive concurrency controller (src/engine/concurrency.ts): its rules on hand-made
 * observations, then in the lock model (scripts/bench/engine-model.ts: the scheduler's
 * policy on the emulator's LockSimulator) against org pools it is not told, with the
 * same settings for every pool.
 */
import { expect } from 'chai';
import { AdaptiveController, createController, FixedController, INITIAL_CONCURRENCY } from '../../src/engine/concurrency.js';
import { PROFILES } from '../../src/engine/profiles.js';
import { autoRowsPerJob, nextJobRows } from '../../src/engine/sizing.js';
import { defaultConfig } from '../emulator/config.js';
import { workload } from '../../scripts/bench/cells.js';
import { runEngineModel } from '../../scripts/bench/engine-model.js';

const done = (at: number, rows = 1000, lockErrors = 0): { at: number; rows: number; lockErrors: number; transientErrors: number; state: 'JobComplete'; processingMs: number } => ({
  at,
  rows,
  lockErrors,
  transientErrors: lockErrors,
  state: 'JobComplete',
  processingMs: 10_000,
});

describe('engine: adaptive concurrency controller', () => {
  describe('rules', () => {
    it('starts small, grows by one per job picked up promptly, stops at the first job that waits', () => {
      const c = new AdaptiveController({ initial: 4, max: 100 });
      expect(c.limit).to.equal(4);
      for (let s = 1; s <= 4; s++) c.onSubmitted(s, 0);
      for (let s = 1; s <= 4; s++) c.onObserved(s, 'InProgress', 1000);
      expect(c.limit).to.equal(8);
      for (let s = 5; s <= 8; s++) c.onSubmitted(s, 1000);
      c.onObserved(5, 'InProgress', 2000);
      c.onObserved(6, 'UploadComplete', 2000); // seen waiting, within the slack: growth pauses
      c.onObserved(7, 'InProgress', 2000);
      c.onObserved(8, 'InProgress', 2500);
      expect(c.limit, 'grew for 5 only: 6 was seen waiting before 7 and 8 were seen running').to.equal(9);
      c.onObserved(6, 'UploadComplete', 3500); // still waiting after the slack: the org is full
      // Ahead of job 6: jobs 1–5 (5 went out just before it); 7 and 8 came later.
      expect(c.capacity).to.equal(5);
      expect(c.limit).to.equal(6);
      c.onSubmitted(9, 3500);
      c.onObserved(9, 'InProgress', 4000);
      expect(c.limit, 'no growth once the capacity is measured').to.equal(6);
    });

    it('halves on throttling, within [1, max]', () => {
      const c = new AdaptiveController({ initial: 40, max: 50 });
      c.onThrottled(0);
      expect(c.limit).to.equal(20);
      c.onThrottled(1);
      expect(c.limit).to.equal(10);
      const tiny = new AdaptiveController({ initial: 1, max: 1 });
      tiny.onThrottled(0);
      expect(tiny.limit).to.equal(1);
      expect(new AdaptiveController({ initial: 500, max: 50 }).limit).to.equal(50);
    });

    it('lock errors at other traffic\'s level change nothing; past 10 % of the last jobs\' rows the limit shrinks by a quarter', () => {
      const c = new AdaptiveController({ initial: 20, max: 20 });
      for (let s = 1; s <= 40; s++) {
        c.onSubmitted(s, 0);
        c.onObserved(s, 'InProgress', 100, { processingMs: 50 });
      }
      for (let s = 1; s <= 20; s++) c.onFinished(s, done(20_000 + s, 1000, 20)); // 2 %
      expect(c.limit).to.equal(20);
      for (let s = 21; s <= 24; s++) c.onFinished(s, done(30_000 + s, 1000, 300)); // 30 %: 7.6 % of the last 20 jobs' rows
      expect(c.limit).to.equal(20);
      for (let s = 25; s <= 30; s++) c.onFinished(s, done(30_000 + s, 1000, 300));
      expect(c.limit).to.equal(15);
      expect(c.history.at(-1)?.reason).to.match(/^lock errors on \d/);
    });

    it('the default profile gets the adaptive controller from a safe start, the seed a fixed one', () => {
      const a = createController(PROFILES.default);
      expect(a).to.be.instanceOf(AdaptiveController);
      expect(a.limit).to.equal(INITIAL_CONCURRENCY);
      expect(createController(PROFILES.seed)).to.be.instanceOf(FixedController);
    });

    it('job size: within one internal batch, two jobs per slot, whole transactions; per job: the rows left over the capacity', () => {
      expect(autoRowsPerJob(400_000, 100)).to.equal(2_000);
      expect(autoRowsPerJob(2_000_000, 100)).to.equal(10_000);
      expect(autoRowsPerJob(150, 100)).to.equal(200);
      expect(autoRowsPerJob(123_457, 100) % 200).to.equal(0);
      expect(nextJobRows({ rowsLeft: 300_000, capacity: 60, maxConcurrency: 100 })).to.equal(5_000);
      expect(nextJobRows({ rowsLeft: 300_000, maxConcurrency: 100 })).to.equal(3_000);
      expect(nextJobRows({ rowsLeft: 900, capacity: 60, maxConcurrency: 100 })).to.equal(200);
      expect(nextJobRows({ rowsLeft: 50_000, capacity: 2, maxConcurrency: 100, singleParent: true })).to.equal(10_000);
    });
  });

  describe('in the lock model, not told the org pool', function () {
    this.timeout(120_000);
    const w = workload('light', { rows: 100_000, seed: 7 });
    const rows = w.parentOf.map((parent, i) => ({ key: w.keyOf[i], parent }));
    for (const workers of [8, 30, 60]) {
      it(`W = ${workers}: finds the pool, keeps the org's queue short, loads every row, nearly as fast as knowing W`, () => {
        const lock = { ...defaultConfig().bulk.lock, workers };
        const rowsPerJob = autoRowsPerJob(rows.length, 100);
        const run = (controller: AdaptiveController | FixedController): ReturnType<typeof runEngineModel> =>
          runEngineModel({ rows, lock, seed: 7, controller, partitionRows: rowsPerJob, jobRows: () => rowsPerJob, order: 'rr', pollSeconds: [1, 3] });
        const controller = new AdaptiveController({ initial: INITIAL_CONCURRENCY, max: 100 });
        const r = run(controller);
        expect(r.final).to.equal(1);
        expect(controller.capacity, 'measured capacity').to.be.within(workers - 1, workers + 1);
        expect(controller.limit).to.be.within(workers, workers + Math.ceil(workers / 4) + 2);
        expect(r.maxQueued, 'jobs waiting in the org at once').to.be.at.most(Math.ceil(workers / 2) + 4);
        // The oracle knows W (and keeps one job waiting for the next free worker).
        const oracle = run(new FixedController(workers + 1));
        expect(r.endToEndSeconds / oracle.endToEndSeconds, 'simulated time ÷ the oracle\'s').to.be.below(1.15);
      });
    }
  });
});
