/*
 * The seeded dataset generator (skew, shuffle, determinism, speed) and the by-hand CLI.
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import { datasetConfig, datasetSummary, generateDataset, opportunityDefinition, seedParents } from './dataset.js';
import { startEmulator } from './server.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** How many times the parent changes when walking rows in key order. */
function parentRuns(rows: Array<Record<string, unknown>>): number {
  let runs = 0;
  for (let i = 0; i < rows.length; i++) if (i === 0 || rows[i].AccountExternalId__c !== rows[i - 1].AccountExternalId__c) runs++;
  return runs;
}

describe('emulator: dataset generator', function () {
  this.timeout(30_000);

  it('uses the seed key formats, the documented columns and target sObjects', () => {
    const ds = generateDataset({ rows: 1_000, parents: 40, seed: 1 });
    expect(ds.table.name).to.equal('ExtOpportunities__dlm');
    expect(ds.table.columns.map((c) => `${c.name}:${c.type}`)).to.deep.equal([
      'ExternalId__c:Varchar',
      'AccountExternalId__c:Varchar',
      'Name__c:Varchar',
      'StageName__c:Varchar',
      'CloseDate__c:Date',
      'Amount__c:Numeric',
      'LastModified__c:Timestamp',
    ]);
    expect(ds.table.rows[0].ExternalId__c).to.equal('externalOpp0000001');
    expect(ds.table.rows[999].ExternalId__c).to.equal('externalOpp0001000');
    expect(ds.parentKeys[0]).to.equal('externalAcc0000001');
    expect(ds.parents).to.equal(ds.parentKeys);
    for (const r of ds.table.rows) {
      expect(r.AccountExternalId__c).to.match(/^externalAcc\d{7}$/);
      expect(r.CloseDate__c).to.match(/^\d{4}-\d{2}-\d{2}$/);
      expect(typeof r.Amount__c).to.equal('number');
    }
    const opp = ds.sobjects.Opportunity.fields;
    const ext = opp.find((f) => f.name === 'External_ID__c')!;
    expect(ext).to.include({ externalId: true, idLookup: true, type: 'string' });
    expect(opp.find((f) => f.name === 'AccountId')).to.deep.include({ type: 'reference', referenceTo: ['Account'], relationshipName: 'Account' });
    expect(opp.find((f) => f.name === 'CloseDate')!.type).to.equal('date');
    expect(opp.find((f) => f.name === 'Amount')!.type).to.equal('currency');
    expect(ds.sobjects.Account.fields.find((f) => f.name === 'External_ID__c')).to.include({ externalId: true });
    const custom = generateDataset({ rows: 5, parents: 2, seed: 1, keyPrefix: 'K-', parentPrefix: 'P-', keyDigits: 3, tableName: 'X__dlm' });
    expect(custom.table.rows.map((r) => r.ExternalId__c)).to.deep.equal(['K-001', 'K-002', 'K-003', 'K-004', 'K-005']);
    expect(custom.table.name).to.equal('X__dlm');
  });

  it('is deterministic under the seed and different across seeds', () => {
    const a = generateDataset({ rows: 5_000, parents: 300, seed: 9 });
    const b = generateDataset({ rows: 5_000, parents: 300, seed: 9 });
    const c = generateDataset({ rows: 5_000, parents: 300, seed: 10 });
    expect(JSON.stringify(a.table.rows)).to.equal(JSON.stringify(b.table.rows));
    expect(a.childCounts).to.deep.equal(b.childCounts);
    expect(JSON.stringify(a.table.rows)).to.not.equal(JSON.stringify(c.table.rows));
  });

  it('gives the house parents their share and every other parent at least one child, from a skewed spread', () => {
    const ds = generateDataset({ rows: 100_000, parents: 5_000, seed: 3, skew: { hotParents: 2, hotShare: 0.02 } });
    expect(ds.childCounts.reduce((x, y) => x + y, 0)).to.equal(100_000);
    expect(ds.hotParents).to.have.length(2);
    const counted = new Map<string, number>();
    for (const r of ds.table.rows) counted.set(r.AccountExternalId__c as string, (counted.get(r.AccountExternalId__c as string) ?? 0) + 1);
    ds.parentKeys.forEach((p, i) => expect(counted.get(p) ?? 0, p).to.equal(ds.childCounts[i]));
    for (const h of ds.hotParents) expect(counted.get(h)).to.equal(2_000);
    expect(counted.size).to.equal(5_000);
    const others = ds.parentKeys.filter((p) => !ds.hotParents.includes(p)).map((p) => counted.get(p)!);
    expect(Math.min(...others)).to.be.at.least(1);
    const sorted = others.slice().sort((x, y) => x - y);
    const median = sorted[Math.floor(sorted.length / 2)];
    // Lognormal spread: a long tail above the median, but far below the house parents.
    expect(sorted[sorted.length - 1]).to.be.greaterThan(median * 3);
    expect(sorted[sorted.length - 1]).to.be.lessThan(2_000);
    expect(datasetSummary(ds).maxChildren).to.equal(2_000);

    const flat = generateDataset({ rows: 10_001, parents: 1_000, seed: 3, skew: false });
    expect(Math.max(...flat.childCounts) - Math.min(...flat.childCounts)).to.be.at.most(1);
    expect(flat.hotParents).to.deep.equal([]);

    const tiny = generateDataset({ rows: 3, parents: 10, seed: 3 });
    expect(tiny.childCounts.reduce((x, y) => x + y, 0)).to.equal(3);
    const one = generateDataset({ rows: 50, parents: 1, seed: 3, skew: { hotParents: 3, hotShare: 0.5 } });
    expect(one.childCounts).to.deep.equal([50]);
  });

  it('shuffles key order independently of parents, or keeps parents contiguous', () => {
    const sorted = generateDataset({ rows: 20_000, parents: 1_000, seed: 4, shuffle: false });
    expect(parentRuns(sorted.table.rows)).to.equal(1_000);
    const keysInOrder = sorted.table.rows.map((r) => r.AccountExternalId__c as string);
    expect(keysInOrder.slice().sort()).to.deep.equal(keysInOrder);
    const shuffled = generateDataset({ rows: 20_000, parents: 1_000, seed: 4, shuffle: true });
    expect(parentRuns(shuffled.table.rows)).to.be.greaterThan(15_000);
    expect(shuffled.childCounts).to.deep.equal(sorted.childCounts);
  });

  it('adds up to 3 realistic extra columns without changing the first seven, and declares the external id case rule', () => {
    const base = generateDataset({ rows: 3_000, parents: 100, seed: 6 });
    const wide = generateDataset({ rows: 3_000, parents: 100, seed: 6, extraColumns: 3 });
    expect(wide.table.columns.map((c) => `${c.name}:${c.type}`).slice(7)).to.deep.equal(['Description__c:Varchar', 'Probability__c:Integer', 'LeadSource__c:Varchar']);
    expect(wide.columns.extra).to.deep.equal(['Description__c', 'Probability__c', 'LeadSource__c']);
    const strip = (r: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(r).slice(0, 7));
    expect(JSON.stringify(wide.table.rows.map(strip))).to.equal(JSON.stringify(base.table.rows));
    const desc = wide.table.rows.map((r) => r.Description__c);
    expect(desc.filter((d) => d === null).length).to.be.within(60, 240);
    expect(desc.some((d) => typeof d === 'string' && d.includes(','))).to.equal(true);
    expect(desc.some((d) => typeof d === 'string' && d.includes('"'))).to.equal(true);
    expect(desc.some((d) => typeof d === 'string' && d.includes("'"))).to.equal(true);
    for (const r of wide.table.rows) expect((r.Probability__c as number) % 5).to.equal(0);
    expect(new Set(wide.table.rows.map((r) => r.LeadSource__c)).size).to.equal(8);
    expect(wide.sobjects.Opportunity.fields.map((f) => f.name)).to.include.members(['Description', 'Probability', 'LeadSource']);
    expect(base.sobjects.Opportunity.fields.map((f) => f.name)).to.not.include('Description');
    expect(opportunityDefinition('ExtOpportunities__dlm', {}, 3)).to.have.nested.property('target.mapping.LeadSource__c', 'LeadSource');
    expect(generateDataset({ rows: 10, parents: 2, seed: 1, extraColumns: 1 }).table.columns).to.have.length(8);

    for (const obj of ['Opportunity', 'Account']) {
      expect(base.sobjects[obj].fields.find((f) => f.name === 'External_ID__c')).to.include({ caseSensitive: false });
      const cs = generateDataset({ rows: 10, parents: 2, seed: 1, caseSensitiveExternalIds: true });
      expect(cs.sobjects[obj].fields.find((f) => f.name === 'External_ID__c')).to.include({ caseSensitive: true });
    }
  });

  it('generates 200k rows well under 2 s', () => {
    const t0 = performance.now();
    const ds = generateDataset({ rows: 200_000, parents: 20_000, seed: 1, skew: { hotParents: 2, hotShare: 0.02 } });
    const ms = performance.now() - t0;
    expect(ds.table.rows).to.have.length(200_000);
    expect(ms).to.be.lessThan(2_000);
  });

  it('plugs into startEmulator with datasetConfig, and seedParents fills the Account store', async () => {
    const ds = generateDataset({ rows: 500, parents: 20, seed: 2 });
    const cfg = datasetConfig(ds);
    expect(Object.keys(cfg.sobjects!)).to.deep.equal(['Opportunity', 'Account']);
    const emu = await startEmulator({ ...cfg });
    try {
      seedParents(emu, ds);
      expect(emu.target.summary('Account').rows).to.equal(20);
      const res = await fetch(`${emu.url}/services/data/v64.0/ssot/query-sql`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${emu.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ sql: 'SELECT COUNT(*) FROM "ExtOpportunities__dlm"' }),
      });
      expect(((await res.json()) as { data: unknown[][] }).data).to.deep.equal([[500]]);
      const describe = await fetch(`${emu.url}/services/data/v64.0/sobjects/Opportunity/describe`, { headers: { Authorization: `Bearer ${emu.token}` } });
      expect(describe.status).to.equal(200);
    } finally {
      await emu.close();
    }
  });
});

describe('emulator: cli.ts', function () {
  this.timeout(30_000);

  it('starts with a dataset, prints the sf login line, serves queries and stops on SIGINT', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/emulator/cli.ts'), '--port', '0', '--rows', '2000', '--parents', '50', '--seed', '1', '--time-scale', '5'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    try {
      const t0 = Date.now();
      while (!out.includes('Press Ctrl-C') && Date.now() - t0 < 20_000 && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
      expect(out, err).to.contain('Press Ctrl-C');
      const m = /SF_ACCESS_TOKEN='([^']+)' sf org login access-token --instance-url (http:\/\/127\.0\.0\.1:\d+) --alias emu --no-prompt/.exec(out);
      expect(m, out).to.not.equal(null);
      const [, token, url] = m!;
      expect(out).to.contain(`url       ${url}`);
      expect(out).to.contain('2000 rows, 50 parents');
      const res = await fetch(`${url}/services/data/v64.0/ssot/query-sql`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ sql: 'SELECT COUNT(*) AS n FROM ExtOpportunities__dlm' }),
      });
      expect(((await res.json()) as { data: unknown[][] }).data).to.deep.equal([[2000]]);
      child.kill('SIGINT');
      expect(await exited).to.equal(0);
      expect(out).to.contain('stopping the emulator');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
