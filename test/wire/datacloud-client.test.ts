import { expect } from 'chai';
import type { Connection } from '@salesforce/core';
import { startEmulator, type Emulator } from '../emulator/server.js';
import type { DcTable } from '../emulator/config.js';
import { connectTo } from '../helpers/connection.js';
import { DataCloudClient, columnIndex, parseColumns, rowObjects } from '../../src/source/datacloud-client.js';
import { SalesforceApiError } from '../../src/core/errors.js';
import { quoteInexactNumbers } from '../../src/core/org-api.js';
import { buildPageQuery } from '../../src/source/sql.js';

function table(n: number): DcTable {
  const rows = [];
  for (let i = 1; i <= n; i++) {
    rows.push({
      Key__c: `K${String(i).padStart(5, '0')}`,
      Parent__c: `P${String(i % 7).padStart(2, '0')}`,
      Name__c: i === 3 ? "O'Brien" : `Name ${i}`,
      Amount__c: i * 1.5,
      Active__c: i % 2 === 0,
      Close__c: '2024-01-15',
    });
  }
  return {
    name: 'Items__dlm',
    columns: [
      { name: 'Key__c', type: 'Varchar' },
      { name: 'Parent__c', type: 'Varchar' },
      { name: 'Name__c', type: 'Varchar' },
      { name: 'Amount__c', type: 'Double' },
      { name: 'Active__c', type: 'Bool' },
      { name: 'Close__c', type: 'Date' },
    ],
    rows,
  };
}

const paths = (emu: Emulator, re: RegExp) => emu.requests.filter((r) => re.test(r.path));

describe('wire: DataCloudClient against the emulator', function () {
  this.timeout(60_000);
  let emu: Emulator;
  let conn: Connection;
  const data = table(1234);

  before(async () => {
    emu = await startEmulator({ dataCloud: { tables: { Items__dlm: data } } });
    conn = await connectTo(emu);
  });
  after(async () => emu?.close());
  beforeEach(() => {
    emu.configure({ dataCloud: { runningPolls: 0, shortPageRate: 0, querySqlEnabled: true, provisioned: true, statusShape: 'top', maxRowLimit: 50_000 } });
    emu.requests.length = 0;
  });

  it('query-sql: Running state, then short pages and more than one page until rowCount', async () => {
    emu.configure({ dataCloud: { runningPolls: 2, shortPageRate: 0.7, statusShape: 'nested', maxRowLimit: 300 } });
    const dc = new DataCloudClient(conn, { pollIntervalMs: 5, statusWaitMs: 0, rowsPerRequest: 250 });
    const res = await dc.query('SELECT "Key__c", "Name__c", "Amount__c", "Active__c" FROM "Items__dlm" ORDER BY "Key__c"');
    expect(dc.apiInUse).to.equal('query-sql');
    expect(res.columns.map((c) => c.name)).to.deep.equal(['Key__c', 'Name__c', 'Amount__c', 'Active__c']);
    expect(res.rows).to.have.length(1234);
    // Rows are arrays in the order of res.columns.
    const key = columnIndex(res).get('Key__c')!;
    expect(res.rows.map((r) => r[key])).to.deep.equal(data.rows.map((r) => r.Key__c));
    expect(res.rows[2]).to.deep.equal(['K00003', "O'Brien", 4.5, false]);
    expect(rowObjects(res)[2]).to.deep.equal({ Key__c: 'K00003', Name__c: "O'Brien", Amount__c: 4.5, Active__c: false });
    expect(paths(emu, /\/ssot\/query-sql\/[^/]+$/).length).to.be.at.least(3); // status polls
    expect(paths(emu, /\/rows$/).length).to.be.greaterThan(5); // 1234 rows at ≤ 250 per page, some short
    // Read whole, the query is dropped once, after its last page.
    const sql = paths(emu, /\/ssot\/query-sql/);
    expect(sql.filter((r) => r.method === 'DELETE')).to.have.length(1);
    expect(sql.at(-1)!.method).to.equal('DELETE');
  });

  it('query-sql: all rows inline when the POST already has them', async () => {
    const dc = new DataCloudClient(conn);
    const res = await dc.query(buildPageQuery({ table: 'Items__dlm', columns: ['Key__c', 'Parent__c'], keyColumns: ['Parent__c', 'Key__c'], after: ['P03', 'K00500'], limit: 10 }));
    expect(res.rows).to.have.length(10);
    const rows = rowObjects(res);
    expect(rows[0].Parent__c).to.equal('P03');
    expect(rows.every((r) => (r.Parent__c as string) >= 'P03')).to.equal(true);
    // One POST had every row; the finished query is then dropped (DELETE), no status poll, no page.
    expect(paths(emu, /\/ssot\/query-sql/).map((r) => r.method)).to.deep.equal(['POST', 'DELETE']);
  });

  it('query-sql: aggregates and an empty result', async () => {
    const dc = new DataCloudClient(conn);
    const count = await dc.query('SELECT COUNT(*) AS "n" FROM "Items__dlm"');
    expect(Number(rowObjects(count)[0].n)).to.equal(1234);
    const none = await dc.query(`SELECT "Key__c" FROM "Items__dlm" WHERE "Key__c" = 'nope'`);
    expect(none.rows).to.deep.equal([]);
    expect(none.columns.map((c) => c.name)).to.deep.equal(['Key__c']);
  });

  it('falls back to queryv2 when query-sql is missing (404), with rowData rows and placeInOrder metadata', async () => {
    emu.configure({ dataCloud: { querySqlEnabled: false, queryv2RowShape: 'rowData', placeInOrderBase: 1, queryv2BatchRows: 100 } });
    const dc = new DataCloudClient(conn);
    const res = await dc.query('SELECT "Key__c", "Parent__c", "Name__c", "Amount__c" FROM "Items__dlm" ORDER BY "Key__c"');
    expect(dc.apiInUse).to.equal('queryv2');
    expect(res.columns.map((c) => c.name)).to.deep.equal(['Key__c', 'Parent__c', 'Name__c', 'Amount__c']);
    expect(res.rows).to.have.length(1234);
    expect(res.rows[2]).to.have.length(4);
    expect(rowObjects(res)[2]).to.deep.include({ Key__c: 'K00003', Name__c: "O'Brien", Parent__c: 'P03' });
    expect(paths(emu, /\/ssot\/queryv2\/.+/).length).to.equal(12);
    // Stays on queryv2 afterwards.
    emu.requests.length = 0;
    emu.configure({ dataCloud: { queryv2RowShape: 'array', placeInOrderBase: 0 } });
    const again = await dc.query('SELECT "Name__c", "Key__c" FROM "Items__dlm" ORDER BY "Key__c" LIMIT 5');
    expect(again.columns.map((c) => c.name)).to.deep.equal(['Name__c', 'Key__c']);
    expect(again.rows[4]).to.deep.equal(['Name 5', 'K00005']);
    expect(paths(emu, /query-sql/)).to.have.length(0);
  });

  it("api 'query-sql' does not fall back", async () => {
    emu.configure({ dataCloud: { querySqlEnabled: false } });
    const dc = new DataCloudClient(conn, { api: 'query-sql' });
    const err = await dc.query('SELECT "Key__c" FROM "Items__dlm"').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(SalesforceApiError);
    expect((err as SalesforceApiError).errorCode).to.equal('NOT_FOUND');
    expect((err as SalesforceApiError).status).to.equal(404);
  });

  it('not provisioned → DATA_CLOUD_NOT_PROVISIONED', async () => {
    emu.configure({ dataCloud: { provisioned: false } });
    const err = await new DataCloudClient(conn).query('SELECT "Key__c" FROM "Items__dlm"').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(SalesforceApiError);
    expect((err as SalesforceApiError).errorCode).to.equal('DATA_CLOUD_NOT_PROVISIONED');
    expect((err as SalesforceApiError).transient).to.equal(false);
    expect((err as SalesforceApiError).message).to.match(/CDP tenant ID/);
  });

  it('a rejected query is a SalesforceApiError with the server message', async () => {
    const err = await new DataCloudClient(conn).query('SELECT "Nope__c" FROM "Items__dlm"').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(SalesforceApiError);
    expect((err as SalesforceApiError).status).to.be.within(400, 499);
    expect((err as SalesforceApiError).transient).to.equal(false);
  });

  it('abort while running cancels the query (DELETE) and throws ABORTED', async () => {
    emu.configure({ dataCloud: { runningPolls: 1000 } });
    const ac = new AbortController();
    const dc = new DataCloudClient(conn, { pollIntervalMs: 20, statusWaitMs: 0 });
    setTimeout(() => ac.abort(new Error('user pressed Ctrl-C')), 150);
    const err = await dc.query('SELECT "Key__c" FROM "Items__dlm"', { signal: ac.signal }).catch((e: unknown) => e);
    expect((err as SalesforceApiError).errorCode).to.equal('ABORTED');
    await new Promise((r) => setTimeout(r, 50));
    expect(emu.requests.filter((r) => r.method === 'DELETE' && /query-sql/.test(r.path))).to.have.length(1);
  });

  it('a 503 on the status poll is transient', async () => {
    emu.configure({ dataCloud: { runningPolls: 1 }, faults: [{ method: 'GET', path: 'query-sql/[^/]+$', status: 503, times: 1 }] });
    const err = await new DataCloudClient(conn, { pollIntervalMs: 1, statusWaitMs: 0 }).query('SELECT "Key__c" FROM "Items__dlm"').catch((e: unknown) => e);
    emu.configure({ faults: [] });
    expect((err as SalesforceApiError).status).to.equal(503);
    expect((err as SalesforceApiError).transient).to.equal(true);
  });
});

describe('wire: DataCloudClient parsing', () => {
  it('numbers a double may not hold exactly become their text before parsing; strings and short numbers are untouched', () => {
    const text = String.raw`{"data":[[9007199254740993,"9007199254740993 in \"text\" \\",1.5,-0.000000000000000000001,99999999999999999999999999999,1e400,9007199254740992,1234567890123456.7,0.10000000000000000001,123456789012345]],"rowCount":1}`;
    const parsed = JSON.parse(quoteInexactNumbers(text)) as { data: unknown[][]; rowCount: number };
    expect(parsed.data[0]).to.deep.equal([
      '9007199254740993',
      '9007199254740993 in "text" \\',
      1.5,
      '-0.000000000000000000001',
      '99999999999999999999999999999',
      '1e400',
      9007199254740992,
      '1234567890123456.7',
      '0.10000000000000000001',
      123456789012345,
    ]);
    expect(parsed.rowCount).to.equal(1);
    const plain = '{"data":[["a",1,2.5,"x\\\\"]],"n":3}';
    expect(quoteInexactNumbers(plain)).to.equal(plain);
  });


  it('sorts queryv2 metadata by placeInOrder whatever the base', () => {
    expect(parseColumns({ b: { type: 'VARCHAR', placeInOrder: 2 }, a: { type: 'DATE', placeInOrder: 1 } }).map((c) => c.name)).to.deep.equal(['a', 'b']);
    expect(parseColumns({ c: { placeInOrder: 21 }, a: { placeInOrder: 5 }, b: { placeInOrder: 6 } }).map((c) => c.name)).to.deep.equal(['a', 'b', 'c']);
    expect(parseColumns([{ name: 'x', type: 'Varchar' }])).to.deep.equal([{ name: 'x', type: 'Varchar' }]);
    expect(parseColumns(undefined)).to.deep.equal([]);
  });
});
