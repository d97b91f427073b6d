/*
 * The lock model's contention switches (bulk/lock-contention.ts) over real HTTP: other org
 * traffic holding parents, and a trigger locking each parent's parent. The clock is in
 * manual mode (timeScale 0) and moved explicitly, so every instant is exact.
 */
import { expect } from 'chai';
import { parse } from 'csv-parse/sync';
import type { ConfigPatch, SObjectDef } from './config.js';
import { grandparentOf } from './bulk/lock-contention.js';
import { startEmulator, type Emulator } from './server.js';

const V = '/services/data/v62.0';
const HEADER = 'External_ID__c,Name,StageName,CloseDate,Amount,Account.External_ID__c';

const SOBJECTS: Record<string, SObjectDef> = {
  Account: { name: 'Account', fields: [{ name: 'Id', type: 'id' }, { name: 'Name', type: 'string' }, { name: 'External_ID__c', type: 'string', externalId: true, unique: true }] },
  Opportunity: {
    name: 'Opportunity',
    fields: [
      { name: 'Id', type: 'id' },
      { name: 'Name', type: 'string' },
      { name: 'StageName', type: 'picklist' },
      { name: 'CloseDate', type: 'date' },
      { name: 'Amount', type: 'currency' },
      { name: 'AccountId', type: 'reference', referenceTo: ['Account'], relationshipName: 'Account' },
      { name: 'External_ID__c', type: 'string', externalId: true, unique: true },
    ],
  },
};

const emulators: Emulator[] = [];

/** An emulator with a fixed chunk hold of `h0` seconds, manual clock. */
async function emulator(h0: number, lock: NonNullable<NonNullable<ConfigPatch['bulk']>['lock']> = {}): Promise<Emulator> {
  const emu = await startEmulator({ timeScale: 0, sobjects: SOBJECTS, bulk: { lock: { h0, h1: 0, h2: 0, sigma: 0, ...lock } } });
  emulators.push(emu);
  return emu;
}

async function call(emu: Emulator, method: string, path: string, body?: string, type = 'application/json'): Promise<Response> {
  const res = await fetch(emu.url + path, { method, headers: { Authorization: `Bearer ${emu.token}`, ...(body !== undefined ? { 'Content-Type': type } : {}) }, body });
  expect(res.status, `${method} ${path}`).to.be.lessThan(300);
  return res;
}

function csvRows(n: number, parentOf: (i: number) => string, start = 0): string {
  const lines = [HEADER];
  for (let i = start; i < start + n; i++) lines.push(`opp${String(i).padStart(7, '0')},Opp ${i},Prospecting,2026-03-01,10,${parentOf(i)}`);
  return lines.join('\n') + '\n';
}

async function submit(emu: Emulator, csv: string): Promise<string> {
  const job = (await (await call(emu, 'POST', `${V}/jobs/ingest`, JSON.stringify({ object: 'Opportunity', operation: 'upsert', externalIdFieldName: 'External_ID__c', lineEnding: 'LF' }))).json()) as { id: string };
  await call(emu, 'PUT', `${V}/jobs/ingest/${job.id}/batches`, csv, 'text/csv');
  await call(emu, 'PATCH', `${V}/jobs/ingest/${job.id}`, JSON.stringify({ state: 'UploadComplete' }));
  return job.id;
}

/** Move the manual clock forward by `ms` and let the simulation catch up. */
function advance(emu: Emulator, ms: number): void {
  emu.clock.advanceTo(emu.clock.now() + ms);
  emu.bulk.pump();
}

/** Run the simulation until no job work is left (steps of one virtual minute). */
function runToIdle(emu: Emulator): void {
  for (let i = 0; i < 100_000 && emu.bulk.busy; i++) advance(emu, 60_000);
  expect(emu.bulk.busy, 'simulation idle').to.equal(false);
}

async function failedRows(emu: Emulator, id: string): Promise<Array<Record<string, string>>> {
  const text = await (await call(emu, 'GET', `${V}/jobs/ingest/${id}/failedResults`)).text();
  return parse(text, { columns: true }) as Array<Record<string, string>>;
}

describe('emulator lock model: contention switches', function () {
  this.timeout(30_000);
  afterEach(async () => {
    for (const e of emulators.splice(0)) await e.close();
  });

  describe('background traffic', () => {
    it('holds its parents longer than the lock wait: rows of any job on them fail, other parents load', async () => {
      // One foreign transaction a second on acc1, each holding it 30 s: once started, acc1 is never free.
      const emu = await emulator(2, { background: { rate: 1, hold: 30, keys: ['acc1'] } });
      const warm = await submit(emu, csvRows(200, () => 'accX'));
      advance(emu, 100_000);
      const hot = await submit(emu, csvRows(400, () => 'acc1', 1000));
      const cold = await submit(emu, csvRows(200, (i) => `acc${i + 2}`, 5000));
      runToIdle(emu);
      const [w, h, c] = [warm, hot, cold].map((id) => emu.bulk.inspectJob(id)!);
      expect(w.succeeded).to.equal(200);
      expect(c.succeeded).to.equal(200);
      expect(h.lockFailures).to.equal(400);
      const rows = await failedRows(emu, hot);
      expect(rows).to.have.length(400);
      expect(rows[0].sf__Error).to.equal('UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 200 records: acc1:--');
      const s = emu.bulk.summary();
      expect(s.contention.backgroundTransactions).to.be.greaterThan(0);
      expect(s.contention.backgroundGaveUp).to.be.greaterThan(0);
    });

    it('gives transient failures: a hold just past the lock wait fails some chunks, the same rows sent later load', async () => {
      const keys = Array.from({ length: 50 }, (_, i) => `p${i}`);
      const emu = await emulator(1, { background: { rate: 1, hold: 14, keys } });
      const jobs: Array<{ id: string; k: number }> = [];
      for (let k = 0; k < 40; k++) {
        jobs.push({ id: await submit(emu, csvRows(200, () => keys[k % 50], k * 200)), k });
        advance(emu, 5_000);
      }
      runToIdle(emu);
      const hit = jobs.filter((j) => emu.bulk.inspectJob(j.id)!.lockFailures > 0);
      expect(hit.length, 'some jobs hit a held parent').to.be.greaterThan(0);
      expect(hit.length, 'most do not').to.be.lessThan(20);
      // The same rows again, a minute later: the holds have moved on.
      advance(emu, 60_000);
      const again: string[] = [];
      for (const j of hit) {
        again.push(await submit(emu, csvRows(200, () => keys[j.k % 50], j.k * 200)));
        advance(emu, 5_000);
      }
      runToIdle(emu);
      const loaded = again.filter((id) => emu.bulk.inspectJob(id)!.succeeded === 200).length;
      expect(loaded, 'resent rows load').to.be.greaterThan(hit.length / 2);
      // Nothing is left to simulate although the traffic goes on: the emulator is idle.
      expect(emu.bulk.busy).to.equal(false);
    });

    it('is deterministic: the same seed and submissions meet the same traffic', async () => {
      const run = async (gapMs: number): Promise<number> => {
        const keys = Array.from({ length: 20 }, (_, i) => `p${i}`);
        const emu = await emulator(1, { background: { rate: 0.5, hold: 14, keys } });
        await submit(emu, csvRows(200, (i) => keys[i % 20]));
        advance(emu, gapMs);
        await submit(emu, csvRows(200, (i) => keys[i % 20], 200));
        runToIdle(emu);
        return emu.bulk.summary().contention.backgroundTransactions + emu.bulk.summary().contention.backgroundGaveUp;
      };
      const a = await run(30_000);
      expect(a).to.be.greaterThan(0);
      expect(await run(30_000)).to.equal(a);
    });

    it('rate 0 or no switch: nothing is held', async () => {
      const emu = await emulator(2, { background: { rate: 0, hold: 30, keys: ['acc1'] } });
      advance(emu, 50_000);
      const id = await submit(emu, csvRows(400, () => 'acc1'));
      runToIdle(emu);
      expect(emu.bulk.inspectJob(id)!.succeeded).to.equal(400);
      expect(emu.bulk.summary().contention.backgroundTransactions).to.equal(0);
    });
  });

  describe('hierarchy trigger', () => {
    it('locks the grandparent: jobs with disjoint parents under one grandparent wait for each other and the k-th fails', async () => {
      const parentOf = { a1: 'G', a2: 'G', a3: 'G', a4: 'G' };
      const emu = await emulator(4, { hierarchy: { parentOf } });
      const ids: string[] = [];
      for (let k = 0; k < 4; k++) ids.push(await submit(emu, csvRows(200, () => `a${k + 1}`, k * 200)));
      runToIdle(emu);
      const recs = ids.map((id) => emu.bulk.inspectJob(id)!);
      expect(recs.map((r) => r.lockFailures)).to.deep.equal([0, 0, 0, 200]);
      expect(recs[1].completedAt! - recs[0].completedAt!).to.equal(4000);
      const rows = await failedRows(emu, ids[3]);
      expect(rows[0].sf__Error).to.equal('UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 200 records: G:--');
      const s = emu.bulk.summary();
      expect(s.contention.grandparentLocks).to.equal(4);
      expect(s.busiestLock).to.deep.equal({ label: 'G', seconds: 12 });
    });

    it('without the trigger the same jobs run side by side', async () => {
      const emu = await emulator(4);
      const ids: string[] = [];
      for (let k = 0; k < 4; k++) ids.push(await submit(emu, csvRows(200, () => `a${k + 1}`, k * 200)));
      runToIdle(emu);
      const recs = ids.map((id) => emu.bulk.inspectJob(id)!);
      expect(recs.map((r) => r.lockFailures)).to.deep.equal([0, 0, 0, 0]);
      expect(new Set(recs.map((r) => r.completedAt)).size).to.equal(1);
      expect(emu.bulk.summary().contention.grandparentLocks).to.equal(0);
    });

    it('share/groups: a hash picks which parents have a parent, the same for the model and the bench', () => {
      const h = { share: 0.1, groups: 50 };
      const parents = Array.from({ length: 20_000 }, (_, i) => `externalAcc${String(i).padStart(7, '0')}`);
      const gps = parents.map((p) => grandparentOf(p, h));
      const withGp = gps.filter((g) => g !== undefined);
      expect(withGp.length / parents.length).to.be.closeTo(0.1, 0.01);
      expect(new Set(withGp).size).to.equal(50);
      expect(grandparentOf(parents[7], h)).to.equal(gps[7]);
      expect(grandparentOf(parents[7], undefined)).to.equal(undefined);
    });
  });
});
