/*
 * The seed's loads as the seed really submitted them (adiazraya/MassiveUpload, lock-model.md
 * §6): per partition one self-chaining Batch Apex job that reads the next rows in
 * ExternalId order and makes three callouts (create an upsert job, PUT the CSV, PATCH
 * UploadComplete), then chains the next execution. Fire-and-forget: it never polls a job
 * and never reads results, so no row is ever sent twice. Its "retries" re-sent a failed
 * callout at once (Apex cannot sleep), never a failed row.
 *
 * Partitions are 5 contiguous ExternalId ranges, started `stagger` apart; within a chain the
 * next job goes `cycle` seconds after the previous one. Cycles are what the seed's own
 * durations imply (§6, calibration D): Test8 ~4.9 s per 500-row job, Test7 ~4.0 s, Test4
 * ~4.5 s, Test3 ~36 s per 2,000-row job with all chains at once. The stagger, 1 h or 1.5 h
 * for 400,000-row partitions, is scaled to the partition size so partitions overlap as
 * much as they did.
 *
 * Runs in-process on the lockstep clock: the clock is moved to each submission's time and
 * stands still while the three callouts are made; then the org model runs to the end.
 */
import type { Emulator } from '../../test/emulator/server.js';
import { Rng } from '../../test/emulator/random.js';
import type { Lockstep } from './lockstep.js';

export type SeedTest = {
  name: string;
  settings: string;
  jobRows: number;
  /** Partition stagger for 400,000-row partitions (seconds). */
  stagger400k: number;
  cycle: [number, number];
  /** Attempts per callout (1 = no retry). */
  calloutAttempts: number;
};

export const SEED_TESTS: SeedTest[] = [
  { name: 'seed-test3', settings: '2,000/job, 5 chains at once, no stagger, cycle 30–42 s, no retry', jobRows: 2_000, stagger400k: 0, cycle: [30, 42], calloutAttempts: 1 },
  { name: 'seed-test4', settings: '500/job, 1 h stagger, cycle 4.0–5.0 s, no retry', jobRows: 500, stagger400k: 3_600, cycle: [4.0, 5.0], calloutAttempts: 1 },
  { name: 'seed-test7', settings: '500/job, 1 h stagger, cycle 3.6–4.4 s, callouts retried at once (2 attempts)', jobRows: 500, stagger400k: 3_600, cycle: [3.6, 4.4], calloutAttempts: 2 },
  { name: 'seed-test8', settings: '500/job, 1.5 h stagger, cycle 4.4–5.4 s, callouts retried (4 attempts)', jobRows: 500, stagger400k: 5_400, cycle: [4.4, 5.4], calloutAttempts: 4 },
];

const V = '/services/data/v62.0';

async function call(emu: Emulator, attempts: number, method: string, path: string, body?: string, type = 'application/json'): Promise<Response> {
  for (let a = 1; ; a++) {
    try {
      const res = await fetch(emu.url + path, { method, headers: { Authorization: `Bearer ${emu.token}`, ...(body !== undefined ? { 'Content-Type': type } : {}) }, body });
      if (res.status < 300) return res;
      const text = await res.text();
      if (a >= attempts || res.status < 500) throw new Error(`${method} ${path} → ${res.status} ${text.slice(0, 300)}`);
    } catch (err) {
      if (a >= attempts) throw err;
    }
  }
}

/** Submit the seed's chains; returns when every job is submitted and the org model has finished them. */
export async function runSeedChains(emu: Emulator, ls: Lockstep, csv: { header: string; lines: string[] }, t: SeedTest, seed: number, partitions = 5): Promise<void> {
  const rng = new Rng(seed * 7919 + t.jobRows + Math.round(t.cycle[0] * 10));
  const per = Math.ceil(csv.lines.length / partitions);
  const stagger = (t.stagger400k * per) / 400_000;
  const t0 = ls.now();
  const plan: Array<{ at: number; from: number; to: number }> = [];
  for (let p = 0; p < partitions; p++) {
    const end = Math.min(csv.lines.length, (p + 1) * per);
    let at = t0 + p * stagger * 1000;
    for (let i = p * per; i < end; i += t.jobRows) {
      plan.push({ at, from: i, to: Math.min(end, i + t.jobRows) });
      at += (t.cycle[0] + rng.next() * (t.cycle[1] - t.cycle[0])) * 1000;
    }
  }
  plan.sort((a, b) => a.at - b.at || a.from - b.from);
  const job = JSON.stringify({ object: 'Opportunity', operation: 'upsert', externalIdFieldName: 'External_ID__c', lineEnding: 'LF', columnDelimiter: 'COMMA' });
  for (const s of plan) {
    ls.advance(s.at);
    const { id } = (await (await call(emu, t.calloutAttempts, 'POST', `${V}/jobs/ingest`, job)).json()) as { id: string };
    const body = csv.header + '\n' + csv.lines.slice(s.from, s.to).join('\n') + '\n';
    await (await call(emu, t.calloutAttempts, 'PUT', `${V}/jobs/ingest/${id}/batches`, body, 'text/csv')).arrayBuffer();
    await (await call(emu, t.calloutAttempts, 'PATCH', `${V}/jobs/ingest/${id}`, JSON.stringify({ state: 'UploadComplete' }))).arrayBuffer();
  }
  ls.runToIdle();
}
