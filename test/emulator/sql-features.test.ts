/*
 * The SQL additions the plugin's checks rely on, over real HTTP: HAVING on grouped queries,
 * LOWER()/UPPER() in select (with aliases), GROUP BY, ORDER BY and WHERE, COUNT(DISTINCT),
 * IS NOT NULL inside composite keyset predicates (index kept), exact numbers beyond 2^53 on
 * query-sql and queryv2, and the same answers from columnar and row-object tables.
 */
import { expect } from 'chai';
import type { DcTable } from './config.js';
import { startEmulator, type Emulator } from './server.js';
import { generateDataset } from './dataset.js';
import { executeSql } from './datacloud/sql.js';
import { call, sql } from './test-http.js';

const KEYS: DcTable = {
  name: 'Keys__dlm',
  columns: [
    { name: 'ExternalId__c', type: 'Varchar' },
    { name: 'Parent__c', type: 'Varchar' },
    { name: 'Kind__c', type: 'Varchar' },
  ],
  rows: [
    { ExternalId__c: 'A1', Parent__c: 'p1', Kind__c: 'x' },
    { ExternalId__c: 'a1', Parent__c: 'p1', Kind__c: 'y' },
    { ExternalId__c: 'B2', Parent__c: 'p2', Kind__c: 'x' },
    { ExternalId__c: 'b2', Parent__c: 'p2', Kind__c: 'x' },
    { ExternalId__c: 'b2', Parent__c: 'p3', Kind__c: null },
    { ExternalId__c: 'C3', Parent__c: 'p3', Kind__c: 'z' },
    { ExternalId__c: null, Parent__c: 'p3', Kind__c: 'z' },
    { ExternalId__c: null, Parent__c: null, Kind__c: 'x' },
    { ExternalId__c: 'd4', Parent__c: 'p4', Kind__c: 'y' },
  ],
};

const NUMS: DcTable = {
  name: 'Nums__dlm',
  columns: [
    { name: 'Id__c', type: 'Varchar' },
    { name: 'Big__c', type: 'BigInt' },
    { name: 'Dec__c', type: 'Numeric' },
    { name: 'Dbl__c', type: 'Double' },
  ],
  rows: [
    { Id__c: 'n1', Big__c: '12345678901234567890124', Dec__c: '1234567890123456789.123456789', Dbl__c: '9007199254740993' },
    { Id__c: 'n2', Big__c: '12345678901234567890123', Dec__c: '-0.000000000000000000001', Dbl__c: 1.5 },
    { Id__c: 'n3', Big__c: 7, Dec__c: null, Dbl__c: null },
  ],
};

describe('emulator: SQL for the plugin checks', function () {
  this.timeout(60_000);
  let emu: Emulator;
  before(async () => {
    emu = await startEmulator({ dataCloud: { tables: { [KEYS.name]: KEYS, [NUMS.name]: NUMS } } });
  });
  after(async () => emu?.close());

  async function rows(text: string, extra: Record<string, unknown> = {}): Promise<unknown[][]> {
    const r = await sql(emu, text, extra);
    expect(r.status, r.text).to.equal(200);
    return r.body.data as unknown[][];
  }

  it('finds duplicate keys case-insensitively with the plugin query: LOWER, GROUP BY LOWER, HAVING COUNT(*) > 1, ORDER BY alias', async () => {
    const q = `SELECT LOWER("ExternalId__c") AS "k", COUNT(*) AS "n" FROM "Keys__dlm" WHERE ("Parent__c" IS NOT NULL) GROUP BY LOWER("ExternalId__c") HAVING COUNT(*) > 1 ORDER BY "k" LIMIT 101`;
    const r = await sql(emu, q);
    expect(r.body.metadata).to.deep.equal([
      { name: 'k', type: 'Varchar', nullable: true },
      { name: 'n', type: 'BigInt', nullable: true },
    ]);
    expect(r.body.data).to.deep.equal([
      ['a1', 2],
      ['b2', 3],
    ]);
    // The same with the raw column: only exact duplicates.
    expect(await rows(`SELECT "ExternalId__c" AS "k", COUNT(*) AS "n" FROM "Keys__dlm" GROUP BY "ExternalId__c" HAVING COUNT(*) > 1 ORDER BY "k" LIMIT 101`)).to.deep.equal([
      ['b2', 2],
      [null, 2],
    ]);
    expect(await rows(`SELECT COUNT(*) AS "n" FROM "Keys__dlm" WHERE "ExternalId__c" IS NULL`)).to.deep.equal([[2]]);
  });

  it('HAVING compares COUNT(*) with =, <>, >, >=, <, <= and combines with AND, OR, NOT; also without GROUP BY', async () => {
    const having = async (h: string): Promise<unknown[]> =>
      (await rows(`SELECT "Parent__c", COUNT(*) AS "n" FROM "Keys__dlm" GROUP BY "Parent__c" HAVING ${h} ORDER BY "Parent__c"`)).map((r) => r[0]);
    expect(await having('COUNT(*) = 2')).to.deep.equal(['p1', 'p2']);
    expect(await having('COUNT(*) <> 2')).to.deep.equal(['p3', 'p4', null]);
    expect(await having('COUNT(*) > 1')).to.deep.equal(['p1', 'p2', 'p3']);
    expect(await having('COUNT(*) >= 3')).to.deep.equal(['p3']);
    expect(await having('COUNT(*) < 2')).to.deep.equal(['p4', null]);
    expect(await having('COUNT(*) <= 1')).to.deep.equal(['p4', null]);
    expect(await having('1 < COUNT(*)')).to.deep.equal(['p1', 'p2', 'p3']);
    expect(await having(`COUNT(*) > 1 AND "Parent__c" <> 'p1'`)).to.deep.equal(['p2', 'p3']);
    expect(await having('NOT (COUNT(*) = 2 OR COUNT(*) = 3)')).to.deep.equal(['p4', null]);
    expect(await having('"n" > 2')).to.deep.equal(['p3']); // an output alias
    expect(await rows(`SELECT COUNT(*) AS "n" FROM "Keys__dlm" HAVING COUNT(*) > 100`)).to.deep.equal([]);
    expect(await rows(`SELECT COUNT(*) AS "n" FROM "Keys__dlm" HAVING COUNT(*) > 1`)).to.deep.equal([[9]]);
  });

  it('LOWER and UPPER work in the select list, WHERE comparisons and ORDER BY, with nulls staying null', async () => {
    expect(await rows(`SELECT "ExternalId__c" FROM "Keys__dlm" WHERE LOWER("ExternalId__c") = 'b2' ORDER BY "Parent__c"`)).to.deep.equal([['B2'], ['b2'], ['b2']]);
    expect(await rows(`SELECT UPPER("ExternalId__c") AS "u", "Parent__c" FROM "Keys__dlm" WHERE UPPER("ExternalId__c") > 'B2' ORDER BY "u", "Parent__c"`)).to.deep.equal([
      ['C3', 'p3'],
      ['D4', 'p4'],
    ]);
    const r = await sql(emu, `SELECT LOWER("ExternalId__c") FROM "Keys__dlm" ORDER BY LOWER("ExternalId__c") DESC NULLS FIRST LIMIT 4`);
    expect(r.body.metadata[0]).to.deep.equal({ name: 'lower', type: 'Varchar', nullable: true });
    expect(r.body.data).to.deep.equal([[null], [null], ['d4'], ['c3']]);
    expect(await rows(`SELECT UPPER("Kind__c") AS "k", COUNT(*) AS "n" FROM "Keys__dlm" GROUP BY UPPER("Kind__c") ORDER BY "n" DESC, "k"`)).to.deep.equal([
      ['X', 4],
      ['Y', 2],
      ['Z', 2],
      [null, 1],
    ]);
  });

  it('COUNT(DISTINCT col) counts distinct non-null values, overall, per group and in HAVING', async () => {
    expect(await rows(`SELECT COUNT(DISTINCT "ExternalId__c") AS "d", COUNT("ExternalId__c") AS "nn", COUNT(*) AS "n" FROM "Keys__dlm"`)).to.deep.equal([[6, 7, 9]]);
    expect(await rows(`SELECT COUNT(DISTINCT LOWER("ExternalId__c")) AS "d" FROM "Keys__dlm"`)).to.deep.equal([[4]]);
    expect(await rows(`SELECT "Kind__c", COUNT(DISTINCT "Parent__c") AS "d" FROM "Keys__dlm" GROUP BY "Kind__c" HAVING COUNT(DISTINCT "Parent__c") > 1 ORDER BY "Kind__c"`)).to.deep.equal([
      ['x', 2],
      ['y', 2],
    ]);
  });

  it('IS NOT NULL inside a composite keyset predicate keeps the index and skips null keys', () => {
    const ds = generateDataset({ rows: 20_000, parents: 500, seed: 8 });
    const tables = { [ds.table.name]: ds.table };
    const p = ds.parentKeys[200];
    const stats = { scanned: 0, usedIndex: false };
    const page = executeSql(
      tables,
      `SELECT "AccountExternalId__c", "ExternalId__c" FROM "ExtOpportunities__dlm" WHERE (("AccountExternalId__c" > '${p}') OR ("AccountExternalId__c" = '${p}' AND "ExternalId__c" > 'externalOpp0000000')) AND "ExternalId__c" IS NOT NULL AND "AccountExternalId__c" IS NOT NULL ORDER BY "AccountExternalId__c", "ExternalId__c" LIMIT 100`,
      undefined,
      stats
    );
    expect(stats.usedIndex).to.equal(true);
    expect(stats.scanned).to.equal(100);
    expect(page.rows(0, 1)[0][0]).to.equal(p);
    const withNulls = { [KEYS.name]: KEYS };
    const s2 = { scanned: 0, usedIndex: false };
    const r = executeSql(withNulls, `SELECT "ExternalId__c" FROM "Keys__dlm" WHERE ("Parent__c" > 'p1' OR ("Parent__c" = 'p1' AND "ExternalId__c" > 'A1')) AND "ExternalId__c" IS NOT NULL ORDER BY "Parent__c", "ExternalId__c"`, undefined, s2);
    expect(r.rows(0, 10).map((x) => x[0])).to.deep.equal(['a1', 'B2', 'b2', 'C3', 'b2', 'd4']);
    expect(s2.usedIndex).to.equal(true);
  });

  it('writes numbers beyond 2^53 given as decimal text with every digit, on query-sql /rows and queryv2', async () => {
    const post = await call(emu, 'POST', '/services/data/v64.0/ssot/query-sql', { sql: `SELECT "Big__c", "Dec__c", "Dbl__c" FROM "Nums__dlm" ORDER BY "Big__c"` });
    const text = await post.text();
    expect(text).to.contain('"data":[[7,null,null],[12345678901234567890123,-0.000000000000000000001,1.5],[12345678901234567890124,1234567890123456789.123456789,9007199254740993]]');
    const id = (JSON.parse(text) as { status: { queryId: string } }).status.queryId;
    const page = await (await call(emu, 'GET', `/services/data/v64.0/ssot/query-sql/${id}/rows?offset=2&rowLimit=1`)).text();
    expect(page).to.contain('[[12345678901234567890124,1234567890123456789.123456789,9007199254740993]]');
    const v2 = await (await call(emu, 'POST', '/services/data/v64.0/ssot/queryv2', { sql: `SELECT "Big__c" FROM "Nums__dlm" WHERE "Big__c" = 12345678901234567890124` })).text();
    expect(v2).to.contain('"data":[{"rowData":[12345678901234567890124]}]');
    // Comparisons are exact too: 2^53 + 1 as text is not the double 2^53.
    expect(await rows(`SELECT "Id__c" FROM "Nums__dlm" WHERE "Big__c" > 12345678901234567890123`)).to.deep.equal([['n1']]);
    expect(await rows(`SELECT "Id__c" FROM "Nums__dlm" WHERE "Dbl__c" = 9007199254740993`)).to.deep.equal([['n1']]);
    expect(await rows(`SELECT "Id__c" FROM "Nums__dlm" WHERE "Dbl__c" = 9007199254740992`)).to.deep.equal([]);
    expect(await rows(`SELECT "Id__c" FROM "Nums__dlm" WHERE "Big__c" IN (7, 12345678901234567890123) ORDER BY "Id__c"`)).to.deep.equal([['n2'], ['n3']]);
  });

  it('answers the same from a columnar table as from the same rows as objects', () => {
    const col = generateDataset({ rows: 6_000, parents: 300, seed: 4, extraColumns: 3 }).table;
    const obj = generateDataset({ rows: 6_000, parents: 300, seed: 4, extraColumns: 3 }).table;
    const plain: DcTable = { name: obj.name, columns: obj.columns, rows: obj.rows.map((r) => ({ ...r })) };
    const queries = [
      `SELECT * FROM "ExtOpportunities__dlm" ORDER BY "AccountExternalId__c", "ExternalId__c" LIMIT 300 OFFSET 1000`,
      `SELECT "ExternalId__c", "StageName__c" FROM "ExtOpportunities__dlm" ORDER BY "StageName__c" DESC, "CloseDate__c", "ExternalId__c" DESC LIMIT 500`,
      `SELECT "LeadSource__c", COUNT(*) AS "n", COUNT(DISTINCT "StageName__c") AS "s" FROM "ExtOpportunities__dlm" GROUP BY "LeadSource__c" ORDER BY "LeadSource__c" NULLS FIRST`,
      `SELECT "Probability__c", "Amount__c" FROM "ExtOpportunities__dlm" WHERE "Probability__c" >= 50 AND "Description__c" IS NULL ORDER BY "Amount__c" DESC LIMIT 50`,
      `SELECT LOWER("Name__c") AS "n" FROM "ExtOpportunities__dlm" WHERE "LastModified__c" > '2025-06-01' ORDER BY "LeadSource__c" NULLS FIRST, "n" LIMIT 200`,
      `SELECT "AccountExternalId__c", COUNT(*) AS "n" FROM "ExtOpportunities__dlm" GROUP BY "AccountExternalId__c" HAVING COUNT(*) >= 30 ORDER BY "n" DESC, "AccountExternalId__c"`,
    ];
    for (const q of queries) {
      const a = executeSql({ T: col }, q);
      const b = executeSql({ T: plain }, q);
      expect(a.columns, q).to.deep.equal(b.columns);
      expect(a.rows(0, a.length), q).to.deep.equal(b.rows(0, b.length));
      expect(a.length, q).to.be.greaterThan(0);
    }
  });
});
