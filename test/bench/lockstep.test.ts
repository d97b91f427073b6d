/*
 * The benchmark's lockstep clock (scripts/bench/lockstep.ts + lockstep-preload.ts): a client
 * process's Date and timers run on the emulator's virtual clock, which moves only while
 * every client waits on a timer. So the client's waits cost exactly what it asked for, and
 * its CPU time, HTTP calls and file I/O cost no simulated time at all.
 */
import { spawn } from 'node:child_process';
import { expect } from 'chai';
import { startEmulator, type Emulator } from '../emulator/server.js';
import { Lockstep } from '../../scripts/bench/lockstep.js';

type Run = { code: number | null; out: Record<string, unknown> };

function client(ls: Lockstep, env: Record<string, string>, code: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...ls.nodeArgs(), '--input-type=module', '-e', code], { env: { ...process.env, ...ls.clientEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (c) => {
      try {
        resolve({ code: c, out: JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown> });
      } catch {
        reject(new Error(`client output: ${stdout}\n${stderr}`));
      }
    });
  });
}

describe('bench: lockstep virtual clock', function () {
  this.timeout(60_000);
  let emu: Emulator;
  let ls: Lockstep;
  beforeEach(async () => {
    emu = await startEmulator({});
    ls = await new Lockstep(emu).listen();
  });
  afterEach(async () => {
    await ls.close();
    await emu.close();
  });

  it('waits cost exactly what they ask; CPU, HTTP and file I/O in between cost nothing', async () => {
    const before = ls.now();
    const r = await client(
      ls,
      { EMU_URL: emu.url, EMU_TOKEN: emu.token },
      `
      import { writeFileSync, readFileSync, rmSync } from 'node:fs';
      import { setTimeout as sleep } from 'node:timers/promises';
      const t0 = Date.now();
      await new Promise((r) => setTimeout(r, 5000));
      const burnFrom = performance.now();
      while (performance.now() - burnFrom < 400) {} // 400 ms of real CPU
      const afterBurn = Date.now();
      const res = await fetch(process.env.EMU_URL + '/services/data/v62.0/limits', { headers: { Authorization: 'Bearer ' + process.env.EMU_TOKEN } });
      await res.json();
      writeFileSync('/tmp/dcl-lockstep-test.txt', 'x'.repeat(1e6)); readFileSync('/tmp/dcl-lockstep-test.txt'); rmSync('/tmp/dcl-lockstep-test.txt');
      const afterIo = Date.now();
      await sleep(2500);
      const order = [];
      setTimeout(() => order.push('b'), 200); setTimeout(() => order.push('a'), 100);
      let ticks = 0; const iv = setInterval(() => ticks++, 100);
      await sleep(1050); clearInterval(iv);
      await fetch(process.env.EMU_URL + '/services/data/v62.0/limits', { headers: { Authorization: 'Bearer ' + process.env.EMU_TOKEN } });
      console.log(JSON.stringify({ waited: afterBurn - t0, burnCost: afterIo - afterBurn, total: Date.now() - t0, order, ticks, date: new Date().getTime() - Date.now() }));
      `
    );
    expect(r.code).to.equal(0);
    expect(r.out.waited).to.equal(5000);
    expect(r.out.burnCost, 'CPU, HTTP and file I/O').to.equal(0);
    expect(r.out.total).to.equal(5000 + 2500 + 1050);
    expect(r.out.order).to.deep.equal(['a', 'b']);
    expect(r.out.ticks).to.equal(10);
    expect(r.out.date).to.equal(0);
    // The emulator saw the client's last call exactly when the client made it. (After it, an
    // HTTP library's keep-alive timers may still move the clock until the process exits.)
    const last = emu.requests.filter((q) => q.path.endsWith('/limits')).pop()!;
    expect(last.at - before).to.equal(8550);
    expect(ls.stats.advancesWithOpenRequests).to.equal(0);
  });

  it('a client that never waits sees no time pass', async () => {
    const before = ls.now();
    const r = await client(
      ls,
      { EMU_URL: emu.url, EMU_TOKEN: emu.token },
      `
      const res = await fetch(process.env.EMU_URL + '/services/data/v62.0/sobjects/Nope/describe', { headers: { Authorization: 'Bearer ' + process.env.EMU_TOKEN } });
      console.log(JSON.stringify({ describe: res.status, now: Date.now() }));
      `
    );
    expect(r.code).to.equal(0);
    expect(r.out.describe).to.equal(404);
    expect(r.out.now).to.equal(Math.floor(before));
  });

  it('moves the org model with the clock: a polling client sees its job end at the model\'s instant', async () => {
    await ls.close();
    await emu.close();
    emu = await startEmulator({
      sobjects: {
        Account: { name: 'Account', fields: [{ name: 'Id', type: 'id' }, { name: 'External_ID__c', type: 'string', externalId: true }] },
        Opportunity: { name: 'Opportunity', fields: [{ name: 'Id', type: 'id' }, { name: 'Name', type: 'string' }, { name: 'AccountId', type: 'reference', referenceTo: ['Account'], relationshipName: 'Account' }, { name: 'External_ID__c', type: 'string', externalId: true }] },
      },
      bulk: { lock: { h0: 5, h1: 0, h2: 0, sigma: 0, pickup: 1 } },
    });
    ls = await new Lockstep(emu).listen();
    const r = await client(
      ls,
      { EMU_URL: emu.url, EMU_TOKEN: emu.token },
      `
      const h = { Authorization: 'Bearer ' + process.env.EMU_TOKEN };
      const v = process.env.EMU_URL + '/services/data/v62.0/jobs/ingest';
      const t0 = Date.now();
      const { id } = await (await fetch(v, { method: 'POST', headers: { ...h, 'Content-Type': 'application/json' }, body: JSON.stringify({ object: 'Opportunity', operation: 'upsert', externalIdFieldName: 'External_ID__c', lineEnding: 'LF' }) })).json();
      const rows = Array.from({ length: 200 }, (_, i) => 'o' + i + ',N,acc1').join('\\n');
      await fetch(v + '/' + id + '/batches', { method: 'PUT', headers: { ...h, 'Content-Type': 'text/csv' }, body: 'External_ID__c,Name,Account.External_ID__c\\n' + rows + '\\n' });
      await fetch(v + '/' + id, { method: 'PATCH', headers: { ...h, 'Content-Type': 'application/json' }, body: JSON.stringify({ state: 'UploadComplete' }) });
      const seen = [];
      for (;;) {
        await new Promise((r) => setTimeout(r, 1000));
        const j = await (await fetch(v + '/' + id, { headers: h })).json();
        seen.push(j.state);
        if (j.state === 'JobComplete' || j.state === 'Failed') break;
      }
      console.log(JSON.stringify({ seen, doneAfter: Date.now() - t0 }));
      `
    );
    expect(r.code).to.equal(0);
    // Picked up at once, one 200-row transaction of 5 s after the 1 s pickup: done at +6 s.
    expect(r.out.seen).to.deep.equal(['InProgress', 'InProgress', 'InProgress', 'InProgress', 'InProgress', 'JobComplete']);
    expect(r.out.doneAfter).to.equal(6000);
  });
});
