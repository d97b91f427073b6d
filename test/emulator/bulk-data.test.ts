/*
 * Data carried as is through the emulator's Bulk ingest, over real HTTP: hostile cell values
 * stored and echoed exactly (quotes, backslashes, delimiters, CR/LF inside quotes, tabs, NUL,
 * non-ASCII, emoji, 32,000 characters, edge spaces), Bulk's cell rules (#N/A clears, an empty
 * cell leaves a field unchanged), GET /__emulator/target/:object/:externalId, and external
 * id case rules: upserts, relationship references and parent locks treat `ACME-1` and
 * `acme-1` as one record unless the field is case sensitive.
 */
import { expect } from 'chai';
import { startEmulator, type Emulator } from './server.js';
import { call, callJson, results, smallOrg, submit, waitDone } from './test-http.js';

const HOSTILE: Record<string, string> = {
  h01: "O'Brien",
  h02: 'say "hi"',
  h03: '""',
  h04: 'back\\slash \\n not a newline',
  h05: 'a;b;c',
  h06: 'one, two, three',
  h07: 'line1\nline2',
  h08: 'carriage\rreturn',
  h09: 'tab\there',
  h10: 'café 日本語 Ωμέγα',
  h11: '😀👍🏽 emoji',
  h12: '  leading and trailing  ',
  h13: 'x'.repeat(32_000),
  h14: 'nul\u0000inside',
  h15: '#N/A is only magic alone: #N/A',
  h16: ' ',
  h17: '|^`',
  h18: '=1+1',
  h19: '12345678901234567890123.000000000000000000001',
  h20: '-0.10',
};

function cell(v: string): string {
  return /[",\r\n]/.test(v) || v.trim() !== v ? `"${v.replace(/"/g, '""')}"` : v;
}

function csvOf(rows: Array<[string, string, string]>, eol = '\n'): string {
  return ['External_ID__c,Name,Description', ...rows.map((r) => r.map(cell).join(','))].join(eol) + eol;
}

describe('emulator: data carried as is', function () {
  this.timeout(30_000);
  const emus: Emulator[] = [];
  const start = async (caseSensitive = false, patch: Parameters<typeof startEmulator>[0] = {}): Promise<Emulator> => {
    const e = await startEmulator({ timeScale: 1000, sobjects: smallOrg(caseSensitive), ...patch });
    emus.push(e);
    return e;
  };
  after(async () => Promise.all(emus.map((e) => e.close())));

  it('stores every hostile value exactly as the CSV cell, serves it by external id and echoes it in results', async () => {
    const emu = await start();
    const rows = Object.entries(HOSTILE).map(([k, v]) => [k, v, `desc of ${k}: ${v}`] as [string, string, string]);
    const id = await submit(emu, csvOf(rows));
    const job = await waitDone(emu, id);
    expect(job.state, job.errorMessage).to.equal('JobComplete');
    expect(job.numberRecordsFailed).to.equal(0);
    for (const [k, v, d] of rows) {
      const rec = emu.target.get('Opportunity', k)!;
      expect(rec.fields, k).to.deep.equal({ External_ID__c: k, Name: v, Description: d });
      const web = await fetch(`${emu.url}/__emulator/target/Opportunity/${encodeURIComponent(k)}`);
      expect(web.status).to.equal(200);
      expect(((await web.json()) as { fields: Record<string, string> }).fields.Name).to.equal(v);
    }
    const ok = await results(emu, id, 'successfulResults');
    expect(new Map(ok.rows.map((r) => [r.External_ID__c, r.Name]))).to.deep.equal(new Map(rows.map(([k, v]) => [k, v])));
    expect((await fetch(`${emu.url}/__emulator/target/Opportunity/nope`)).status).to.equal(404);
  });

  it('keeps CRLF inside quoted values of a CRLF job; an LF job with CRLF inside a value fails as on Salesforce', async () => {
    const emu = await start();
    const v = 'first\r\nsecond';
    const ok = await waitDone(emu, await submit(emu, csvOf([['c1', v, 'd']], '\r\n'), { lineEnding: 'CRLF' }));
    expect(ok.state).to.equal('JobComplete');
    expect(emu.target.get('Opportunity', 'c1')!.fields.Name).to.equal(v);
    const bad = await waitDone(emu, await submit(emu, csvOf([['c2', v, 'd']])));
    expect(bad.errorMessage).to.equal('ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is LF');
  });

  it('applies the cell rules of the last write: #N/A clears, an empty cell leaves the field as it was', async () => {
    const emu = await start();
    await waitDone(emu, await submit(emu, csvOf([['u1', 'Name one', 'Desc one']])));
    await waitDone(emu, await submit(emu, 'External_ID__c,Name,Description\nu1,,#N/A\n'));
    const rec = emu.target.get('Opportunity', 'u1')!;
    expect(rec.fields).to.deep.equal({ External_ID__c: 'u1', Name: 'Name one', Description: '' });
    expect(rec.writes).to.equal(2);
    await waitDone(emu, await submit(emu, 'External_ID__c,Name,StageName\nu1,"  Name two ",Won\n'));
    expect(emu.target.get('Opportunity', 'u1')!.fields).to.deep.equal({ External_ID__c: 'u1', Name: '  Name two ', Description: '', StageName: 'Won' });
  });

  it('rejects malformed CSV (quote inside an unquoted value, unclosed quote, short row) as a job-level ClientInputError', async () => {
    const emu = await start();
    for (const csv of ['External_ID__c,Name\nk1,ab"c\n', 'External_ID__c,Name\nk1,"open\n', 'External_ID__c,Name\nk1\n', 'External_ID__c,Name\nk1,"x"y\n']) {
      const j = await waitDone(emu, await submit(emu, csv));
      expect(j.state, csv).to.equal('Failed');
      expect(j.errorMessage).to.match(/^ClientInputError : Failed to parse the CSV data/);
    }
  });

  describe('external id case rules', () => {
    it('describe serves caseSensitive on every field (false by default, true when declared)', async () => {
      const ci = await start();
      const cs = await start(true);
      const fields = async (emu: Emulator): Promise<Array<{ name: string; caseSensitive: boolean }>> =>
        (await callJson(emu, 'GET', '/services/data/v64.0/sobjects/Opportunity/describe')).body.fields;
      for (const f of await fields(ci)) expect(f.caseSensitive, f.name).to.equal(false);
      expect((await fields(cs)).find((f) => f.name === 'External_ID__c')!.caseSensitive).to.equal(true);
    });

    it('case-insensitive by default: ACME-1 then acme-1 update one record; the stored key is the first written', async () => {
      const emu = await start();
      const first = await submit(emu, csvOf([['ACME-1', 'first', 'd']]));
      await waitDone(emu, first);
      const second = await submit(emu, csvOf([['acme-1', 'second', 'd']]));
      await waitDone(emu, second);
      expect(emu.target.summary('Opportunity')).to.include({ rows: 1, writes: 2 });
      expect([...emu.target.table('Opportunity').keys()]).to.deep.equal(['ACME-1']);
      const rec = emu.target.get('Opportunity', 'Acme-1')!;
      expect(rec.fields).to.deep.equal({ External_ID__c: 'acme-1', Name: 'second', Description: 'd' });
      const a = (await results(emu, first, 'successfulResults')).rows[0];
      const b = (await results(emu, second, 'successfulResults')).rows[0];
      expect([a.sf__Created, b.sf__Created]).to.deep.equal(['true', 'false']);
      expect(b.sf__Id).to.equal(a.sf__Id);
      expect((await fetch(`${emu.url}/__emulator/target/Opportunity/aCmE-1`)).status).to.equal(200);
    });

    it('case sensitive when declared: ACME-1 and acme-1 are two records', async () => {
      const emu = await start(true);
      await waitDone(emu, await submit(emu, csvOf([['ACME-1', 'first', 'd']])));
      await waitDone(emu, await submit(emu, csvOf([['acme-1', 'second', 'd']])));
      expect(emu.target.summary('Opportunity')).to.include({ rows: 2, writes: 2 });
      expect(emu.target.get('Opportunity', 'Acme-1')).to.equal(undefined);
    });

    it('a relationship reference finds its parent with the parent field rule; missingParent fail gives INVALID_FIELD', async () => {
      const emu = await start();
      const acc = emu.target.upsert('Account', 'ACME-1', { External_ID__c: 'ACME-1', Name: 'Acme' }, 0);
      const csv = 'External_ID__c,Name,Account.External_ID__c\no1,One,acme-1\no2,Two,GHOST-9\n';
      await waitDone(emu, await submit(emu, csv));
      expect(emu.target.get('Opportunity', 'o1')!.refs).to.deep.equal({ AccountId: acc.id });
      expect(emu.target.get('Opportunity', 'o1')!.fields['Account.External_ID__c']).to.equal('acme-1');
      expect(emu.target.get('Opportunity', 'o2')!.refs).to.equal(undefined);

      emu.configure({ bulk: { missingParent: 'fail' } });
      const id = await submit(emu, csv.replace(/o1/, 'o3').replace(/o2/, 'o4'));
      const j = await waitDone(emu, id);
      expect(j.numberRecordsFailed).to.equal(1);
      const [bad] = (await results(emu, id, 'failedResults')).rows;
      expect(bad).to.include({ External_ID__c: 'o4', sf__Error: 'INVALID_FIELD:Foreign key external ID: GHOST-9 not found for field External_ID__c in entity Account:--' });

      const cs = await start(true, { bulk: { missingParent: 'fail' } });
      cs.target.upsert('Account', 'ACME-1', { External_ID__c: 'ACME-1' }, 0);
      const k = await waitDone(cs, await submit(cs, 'External_ID__c,Account.External_ID__c\no1,acme-1\no2,ACME-1\n'));
      expect(k.numberRecordsFailed).to.equal(1);
    });

    it('the lock model sees ACME-1 and acme-1 as one parent (the second job waits for the first)', async () => {
      const lock = { h0: 4, h1: 0, h2: 0, sigma: 0 };
      const run = async (caseSensitive: boolean): Promise<number> => {
        const emu = await start(caseSensitive, { bulk: { lock } });
        emu.configure({ timeScale: 0 });
        const a = await submit(emu, 'External_ID__c,Account.External_ID__c\no1,ACME-1\n');
        const b = await submit(emu, 'External_ID__c,Account.External_ID__c\no2,acme-1\n');
        emu.configure({ timeScale: 1000 });
        await Promise.all([waitDone(emu, a), waitDone(emu, b)]);
        return emu.bulk.inspectJob(b)!.completedAt! - emu.bulk.inspectJob(a)!.completedAt!;
      };
      expect(await run(false)).to.be.closeTo(4000, 1e-6); // waited for the other job's hold
      expect(await run(true)).to.be.closeTo(0, 1e-6); // two parents: both ran at once
    });
  });

  it('upserts rows with an empty or #N/A external id fail with MISSING_ARGUMENT', async () => {
    const emu = await start();
    const id = await submit(emu, 'External_ID__c,Name\n,empty key\n#N/A,na key\nok,fine\n');
    const j = await waitDone(emu, id);
    expect(j.numberRecordsFailed).to.equal(2);
    for (const r of (await results(emu, id, 'failedResults')).rows) expect(r.sf__Error).to.equal('MISSING_ARGUMENT:External_ID__c not specified:--');
    expect((await call(emu, 'GET', '/services/data/v64.0/limits')).status).to.equal(200);
  });
});
