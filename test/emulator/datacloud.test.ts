/*
 * The emulator's Data Cloud query API over real HTTP: the SQL subset, keyset paging,
 * the query-sql lifecycle, queryv2 batches and the not-provisioned mode.
 */
import { expect } from 'chai';
import type { DcTable } from './config.js';
import { startEmulator, type Emulator } from './server.js';
import { datasetConfig, generateDataset } from './dataset.js';
import { dataCloudState } from './datacloud/routes.js';
import { executeSql } from './datacloud/sql.js';

type Res = { status: number; body: any; text: string };

const V = '/services/data/v64.0';

async function call(emu: Emulator, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res> {
  const res = await fetch(emu.url + path, {
    method,
    headers: { Authorization: `Bearer ${emu.token}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text };
}

const THINGS: DcTable = {
  name: 'Things__dlm',
  columns: [
    { name: 'Id__c', type: 'Varchar' },
    { name: 'Name__c', type: 'Varchar' },
    { name: 'Qty__c', type: 'Integer' },
    { name: 'Price__c', type: 'Numeric' },
    { name: 'Day__c', type: 'Date' },
    { name: 'At__c', type: 'Timestamp' },
    { name: 'Flag__c', type: 'Bool' },
    { name: 'We"ird__c', type: 'Varchar' },
  ],
  rows: [
    { Id__c: 'a1', Name__c: 'Alpha', Qty__c: 2, Price__c: 10.5, Day__c: '2024-01-01', At__c: '2024-01-01T00:00:00Z', Flag__c: true, 'We"ird__c': 'x' },
    { Id__c: 'a2', Name__c: "O'Brien", Qty__c: 10, Price__c: 3, Day__c: '2024-02-29', At__c: '2024-02-29T13:14:15.678Z', Flag__c: false, 'We"ird__c': 'y' },
    { Id__c: 'a3', Name__c: 'beta', Qty__c: null, Price__c: null, Day__c: null, At__c: null, Flag__c: null, 'We"ird__c': null },
    { Id__c: 'a4', Name__c: 'Zed', Qty__c: 7, Price__c: 0.25, Day__c: '2023-12-31', At__c: '2023-12-31 23:59:59.000 UTC', Flag__c: true, 'We"ird__c': 'x' },
    { Id__c: 'a5', Name__c: null, Qty__c: 1, Price__c: 99, Day__c: '2025-06-01', At__c: '2025-06-01T08:00:00Z', Flag__c: false, 'We"ird__c': 'z' },
    { Id__c: 'a6', Name__c: 'émile', Qty__c: 3, Price__c: 1, Day__c: '2025-06-02', At__c: '2025-06-02T08:00:00Z', Flag__c: true, 'We"ird__c': 'z' },
    { Id__c: 'a7', Name__c: '😀 smile', Qty__c: 4, Price__c: 2, Day__c: '2025-06-03', At__c: '2025-06-03T08:00:00Z', Flag__c: true, 'We"ird__c': 'z' },
    { Id__c: 'a8', Name__c: '\uFFFD replacement', Qty__c: 5, Price__c: 3, Day__c: '2025-06-04', At__c: '2025-06-04T08:00:00Z', Flag__c: false, 'We"ird__c': 'z' },
  ],
};

describe('emulator: Data Cloud query API', function () {
  this.timeout(30_000);
  let emu: Emulator;
  const ds = generateDataset({ rows: 30_000, parents: 1_200, seed: 5, skew: { hotParents: 2, hotShare: 0.03 } });

  before(async () => {
    emu = await startEmulator({ seed: 3, ...datasetConfig(ds), dataCloud: { tables: { ...datasetConfig(ds).dataCloud!.tables, [THINGS.name]: THINGS } } });
  });
  after(async () => emu?.close());

  const defaults = {
    provisioned: true,
    maxRowLimit: 50_000,
    shortPageRate: 0,
    runningPolls: 0,
    statusShape: 'top' as const,
    queryv2RowShape: 'rowData' as const,
    placeInOrderBase: 1 as const,
    queryv2BatchRows: 4_000,
    querySqlEnabled: true,
    maxConcurrentQueries: 15,
  };
  beforeEach(() => {
    emu.configure({ dataCloud: defaults });
    const st = dataCloudState(emu);
    st.queries.clear();
    st.cursors.clear();
  });

  async function sql(text: string, extra: Record<string, unknown> = {}): Promise<Res> {
    return call(emu, 'POST', `${V}/ssot/query-sql`, { sql: text, ...extra });
  }
  async function rowsOf(text: string): Promise<unknown[][]> {
    const r = await sql(text);
    expect(r.status, r.text).to.equal(200);
    return r.body.data as unknown[][];
  }
  async function ids(where: string): Promise<string[]> {
    const rows = await rowsOf(`SELECT "Id__c" FROM "Things__dlm" WHERE ${where} ORDER BY "Id__c"`);
    return rows.map((r) => r[0] as string);
  }
  async function sqlError(text: string): Promise<{ status: number; errorCode: string; message: string }> {
    const r = await sql(text);
    expect(r.status, r.text).to.equal(400);
    expect(r.body).to.be.an('array').with.length(1);
    return { status: r.status, errorCode: r.body[0].errorCode as string, message: r.body[0].message as string };
  }

  describe('SQL subset', () => {
    it('compares with = <> != > >= < <= on text and numbers, with NULL never matching', async () => {
      expect(await ids(`"Name__c" = 'Alpha'`)).to.deep.equal(['a1']);
      expect(await ids(`"Qty__c" <> 2`)).to.deep.equal(['a2', 'a4', 'a5', 'a6', 'a7', 'a8']);
      expect(await ids(`"Qty__c" != 2`)).to.deep.equal(['a2', 'a4', 'a5', 'a6', 'a7', 'a8']);
      expect(await ids(`"Qty__c" > 4`)).to.deep.equal(['a2', 'a4', 'a8']);
      expect(await ids(`"Qty__c" >= 4`)).to.deep.equal(['a2', 'a4', 'a7', 'a8']);
      expect(await ids(`"Qty__c" < 3`)).to.deep.equal(['a1', 'a5']);
      expect(await ids(`"Qty__c" <= 3`)).to.deep.equal(['a1', 'a5', 'a6']);
      expect(await ids(`"Price__c" > 2.5`)).to.deep.equal(['a1', 'a2', 'a5', 'a8']);
      expect(await ids(`"Price__c" < -1`)).to.deep.equal([]);
      expect(await ids(`"Id__c" > 'a6'`)).to.deep.equal(['a7', 'a8']);
      expect(await ids(`"Day__c" >= '2025-01-01'`)).to.deep.equal(['a5', 'a6', 'a7', 'a8']);
      expect(await ids(`'a6' < "Id__c"`)).to.deep.equal(['a7', 'a8']);
      expect(await ids(`"Flag__c" = TRUE`)).to.deep.equal(['a1', 'a4', 'a6', 'a7']);
      expect(await ids(`"Flag__c"`)).to.deep.equal(['a1', 'a4', 'a6', 'a7']);
      expect(await ids(`"Qty__c" = '7'`)).to.deep.equal(['a4']);
    });

    it('combines with AND, OR, NOT and parentheses (AND binds tighter), in three-valued logic', async () => {
      expect(await ids(`"Qty__c" > 5 OR "Qty__c" < 2 AND "Flag__c" = FALSE`)).to.deep.equal(['a2', 'a4', 'a5']);
      expect(await ids(`("Qty__c" > 5 OR "Qty__c" < 2) AND "Flag__c" = TRUE`)).to.deep.equal(['a4']);
      expect(await ids(`NOT "Qty__c" > 3`)).to.deep.equal(['a1', 'a5', 'a6']);
      // a5 has no Name__c: false OR NULL is NULL, and NOT NULL is still NULL, so it is not selected.
      expect(await ids(`NOT ("Qty__c" > 3 OR "Name__c" = 'Alpha')`)).to.deep.equal(['a6']);
      expect(await ids(`NOT NOT "Id__c" = 'a3'`)).to.deep.equal(['a3']);
      // NULL OR TRUE is TRUE; NOT (NULL) stays unknown.
      expect(await ids(`"Qty__c" > 100 OR "Id__c" = 'a3'`)).to.deep.equal(['a3']);
      expect(await ids(`NOT ("Qty__c" > 100)`)).to.not.include('a3');
    });

    it('supports IN, NOT IN, IS NULL and IS NOT NULL', async () => {
      expect(await ids(`"Id__c" IN ('a2', 'a4', 'zz')`)).to.deep.equal(['a2', 'a4']);
      expect(await ids(`"Qty__c" IN (1, 2)`)).to.deep.equal(['a1', 'a5']);
      expect(await ids(`"Qty__c" NOT IN (1, 2)`)).to.deep.equal(['a2', 'a4', 'a6', 'a7', 'a8']);
      expect(await ids(`"Qty__c" NOT IN (1, NULL)`)).to.deep.equal([]);
      expect(await ids(`"Qty__c" IS NULL`)).to.deep.equal(['a3']);
      expect(await ids(`"Name__c" IS NOT NULL AND "Price__c" IS NOT NULL`)).to.deep.equal(['a1', 'a2', 'a4', 'a6', 'a7', 'a8']);
    });

    it("handles '' in string literals, \"\" in quoted identifiers, and case rules for names", async () => {
      expect(await ids(`"Name__c" = 'O''Brien'`)).to.deep.equal(['a2']);
      expect(await ids(`"Name__c" IN ('O''Brien', 'it''s; -- not a comment')`)).to.deep.equal(['a2']);
      const weird = await rowsOf(`SELECT "We""ird__c" FROM "Things__dlm" WHERE "Id__c" = 'a1'`);
      expect(weird).to.deep.equal([['x']]);
      // Bare names are case-insensitive; quoted ones exact.
      const bare = await sql(`SELECT id__C, NAME__c FROM things__DLM WHERE ID__c = 'a1'`);
      expect(bare.status, bare.text).to.equal(200);
      expect(bare.body.metadata.map((m: { name: string }) => m.name)).to.deep.equal(['Id__c', 'Name__c']);
      const quotedTable = await sqlError(`SELECT "Id__c" FROM "things__dlm"`);
      expect(quotedTable.message).to.contain('"things__dlm"').and.to.contain('Things__dlm');
      const quotedCol = await sqlError(`SELECT "id__c" FROM "Things__dlm"`);
      expect(quotedCol.message).to.contain('"id__c"').and.to.contain('Id__c');
    });

    it('orders text by code point, numbers numerically, NULLs last; LIMIT and OFFSET', async () => {
      const names = (await rowsOf(`SELECT "Name__c" FROM "Things__dlm" ORDER BY "Name__c"`)).map((r) => r[0]);
      expect(names).to.deep.equal(['Alpha', "O'Brien", 'Zed', 'beta', 'émile', '\uFFFD replacement', '😀 smile', null]);
      const desc = (await rowsOf(`SELECT "Name__c" FROM "Things__dlm" ORDER BY "Name__c" DESC`)).map((r) => r[0]);
      expect(desc).to.deep.equal(['😀 smile', '\uFFFD replacement', 'émile', 'beta', 'Zed', "O'Brien", 'Alpha', null]);
      const qty = (await rowsOf(`SELECT "Qty__c" FROM "Things__dlm" ORDER BY "Qty__c" ASC`)).map((r) => r[0]);
      expect(qty).to.deep.equal([1, 2, 3, 4, 5, 7, 10, null]);
      const multi = await rowsOf(`SELECT "Id__c" FROM "Things__dlm" ORDER BY "We""ird__c" DESC, "Qty__c" LIMIT 3 OFFSET 1`);
      expect(multi.map((r) => r[0])).to.deep.equal(['a6', 'a7', 'a8']);
      const off = await rowsOf(`SELECT "Id__c" FROM "Things__dlm" ORDER BY "Id__c" OFFSET 6`);
      expect(off.map((r) => r[0])).to.deep.equal(['a7', 'a8']);
      expect(await rowsOf(`SELECT "Id__c" FROM "Things__dlm" LIMIT 0`)).to.deep.equal([]);
    });

    it('answers SELECT *, aliases, COUNT(*) and GROUP BY with typed metadata and wire values', async () => {
      const r = await sql(`SELECT * FROM "Things__dlm" WHERE "Id__c" IN ('a2', 'a3') ORDER BY "Id__c"`);
      expect(r.body.metadata).to.deep.equal(THINGS.columns.map((c) => ({ name: c.name, type: c.type, nullable: true })));
      expect(r.body.data).to.deep.equal([
        ['a2', "O'Brien", 10, 3, '2024-02-29', '2024-02-29 13:14:15.678 UTC', false, 'y'],
        ['a3', 'beta', null, null, null, null, null, null],
      ]);
      expect((await rowsOf(`SELECT "At__c" FROM "Things__dlm" WHERE "Id__c" = 'a4'`))[0][0]).to.equal('2023-12-31 23:59:59.000 UTC');
      const count = await sql(`SELECT COUNT(*) AS "n" FROM "Things__dlm" WHERE "Flag__c" = TRUE`);
      expect(count.body.metadata).to.deep.equal([{ name: 'n', type: 'BigInt', nullable: true }]);
      expect(count.body.data).to.deep.equal([[4]]);
      expect(await rowsOf(`SELECT COUNT(*) FROM "Things__dlm" WHERE "Qty__c" > 1000`)).to.deep.equal([[0]]);
      const groups = await sql(`SELECT "We""ird__c", COUNT(*) AS cnt FROM "Things__dlm" GROUP BY "We""ird__c" ORDER BY cnt DESC, "We""ird__c"`);
      expect(groups.body.metadata.map((m: { name: string }) => m.name)).to.deep.equal(['We"ird__c', 'cnt']);
      expect(groups.body.data).to.deep.equal([['z', 4], ['x', 2], ['y', 1], [null, 1]]);
      const alias = await sql(`SELECT "Id__c" AS "key", "Qty__c" AS q FROM "Things__dlm" ORDER BY q DESC LIMIT 2`);
      expect(alias.body.metadata.map((m: { name: string }) => m.name)).to.deep.equal(['key', 'q']);
      expect(alias.body.data).to.deep.equal([['a2', 10], ['a4', 7]]);
      const p = await sql(`SELECT "Id__c" FROM "Things__dlm" WHERE "Name__c" = :name OR "Qty__c" = :q ORDER BY "Id__c"`, {
        sqlParameters: [
          { name: 'name', type: 'Varchar', value: 'Zed' },
          { name: 'q', type: 'Integer', value: '10' },
        ],
      });
      expect(p.body.data).to.deep.equal([['a2'], ['a4']]);
    });

    it('rejects what it does not know with a 400 that names the problem', async () => {
      const table = await sqlError(`SELECT * FROM "Nope__dlm"`);
      expect(table.message).to.contain('Nope__dlm');
      const col = await sqlError(`SELECT "Missing__c" FROM "Things__dlm"`);
      expect(col.errorCode).to.equal('INVALID_FIELD');
      expect(col.message).to.contain('Missing__c');
      expect((await sqlError(`SELECT "Id__c" FROM "Things__dlm" WHERE "Ghost__c" = 'x'`)).message).to.contain('Ghost__c');
      expect((await sqlError(`SELECT "Id__c" FROM "Things__dlm" ORDER BY "Ghost2__c"`)).message).to.contain('Ghost2__c');
      expect((await sqlError(`SELECT * FROM "Things__dlm" a JOIN "Other__dlm" b ON a.x = b.y`)).message).to.match(/alias|JOIN/);
      expect((await sqlError(`SELECT * FROM "Things__dlm" JOIN "Other__dlm" ON "x" = "y"`)).message).to.contain('JOIN');
      expect((await sqlError(`SELECT * FROM "Things__dlm" WHERE "Id__c" IN (SELECT "Id__c" FROM "Things__dlm")`)).message).to.contain('Subquer');
      expect((await sqlError(`SELECT * FROM (SELECT 1)`)).message).to.contain('Subquer');
      expect((await sqlError(`SELECT MAX("Qty__c") FROM "Things__dlm"`)).message).to.contain('MAX');
      expect((await sqlError(`SELECT * FROM "Things__dlm" WHERE trim("Name__c") = 'x'`)).message).to.contain('trim');
      expect((await sqlError(`SELECT * FROM "Things__dlm" WHERE COUNT(*) > 1`)).message).to.contain('COUNT');
      expect((await sqlError(`SELECT LOWER("Name__c", 'x') FROM "Things__dlm"`)).message).to.contain('one argument');
      expect((await sqlError(`SELECT LOWER("Name__c") AS "k", COUNT(*) FROM "Things__dlm" GROUP BY "Name__c"`)).message).to.contain('GROUP BY');
      expect((await sqlError(`SELECT "Id__c" FROM "Things__dlm" ORDER BY COUNT(*)`)).message).to.contain('grouped');
      expect((await sqlError(`SELECT * FROM "Things__dlm";`)).message).to.contain('Semicolon');
      expect((await sqlError(`SELECT * FROM "Things__dlm" -- all`)).message).to.contain('Comment');
      expect((await sqlError(`SELECT * FROM "Things__dlm" /* all */`)).message).to.contain('Comment');
      expect((await sqlError(`SELECT * FROM "Things__dlm" WHERE "Name__c" = 'open`)).message).to.contain('Unterminated');
      expect((await sqlError(`SELECT * FROM "Things__dlm" WHERE "Name__c" LIKE 'A%'`)).message).to.contain('LIKE');
      expect((await sqlError(`SELECT DISTINCT "Name__c" FROM "Things__dlm"`)).message).to.contain('DISTINCT');
      expect((await sqlError(`SELECT "Name__c", COUNT(*) FROM "Things__dlm"`)).message).to.contain('GROUP BY');
      expect((await sqlError(`SELECT * FROM "Things__dlm" WHERE "Id__c" > 5`)).message).to.contain('Id__c');
      expect((await sqlError(`SELECT * FROM "Things__dlm" LIMIT -1`)).message).to.contain('LIMIT');
      expect((await sqlError(`SELECT * FROM "Things__dlm" WHERE "Id__c" = :missing`)).message).to.contain(':missing');
      expect((await sqlError(`DELETE FROM "Things__dlm"`)).message).to.contain('SELECT');
    });

    it('answers keyset pages from a sorted index (binary search, not a scan) for simple and composite keys', () => {
      const tables = { [ds.table.name]: ds.table };
      const stats = { scanned: 0, usedIndex: false };
      const all = executeSql(tables, `SELECT "ExternalId__c" FROM "ExtOpportunities__dlm" ORDER BY "ExternalId__c"`);
      const mid = all.rows(20_000, 20_001)[0][0] as string;
      const page = executeSql(tables, `SELECT "ExternalId__c" FROM "ExtOpportunities__dlm" WHERE ("ExternalId__c" > '${mid}') ORDER BY "ExternalId__c" LIMIT 100`, undefined, stats);
      expect(stats.usedIndex).to.equal(true);
      expect(stats.scanned).to.equal(100);
      expect(page.rows(0, 1)[0][0]).to.equal(all.rows(20_001, 20_002)[0][0]);
      const s2 = { scanned: 0, usedIndex: false };
      const p = 'externalAcc0000600';
      executeSql(
        tables,
        `SELECT "ExternalId__c" FROM "ExtOpportunities__dlm" WHERE ("AccountExternalId__c" <= 'externalAcc0000900') AND (("AccountExternalId__c" > '${p}' OR ("AccountExternalId__c" = '${p}' AND "ExternalId__c" > 'externalOpp0000000'))) ORDER BY "AccountExternalId__c", "ExternalId__c" LIMIT 50`,
        undefined,
        s2
      );
      expect(s2.usedIndex).to.equal(true);
      expect(s2.scanned).to.equal(50);
    });
  });

  describe('keyset paging', () => {
    /** Fetch one whole query-sql result the careful way: POST, poll, then /rows until rowCount. */
    async function fetchAll(text: string, rowLimit: number): Promise<unknown[][]> {
      const first = await sql(text, { rowLimit });
      expect(first.status, first.text).to.equal(200);
      const out: unknown[][] = [...first.body.data];
      let status = first.body.status;
      while (status.completionStatus === 'Running') {
        const s = await call(emu, 'GET', `${V}/ssot/query-sql/${status.queryId}?waitTimeMs=10000`);
        status = s.body.status ?? s.body;
      }
      while (out.length < status.rowCount) {
        const page = await call(emu, 'GET', `${V}/ssot/query-sql/${status.queryId}/rows?offset=${out.length}&rowLimit=${rowLimit}&omitSchema=true`);
        expect(page.status, page.text).to.equal(200);
        expect(page.body.returnedRows).to.be.greaterThan(0);
        out.push(...page.body.data);
      }
      return out;
    }

    it('reaches every row exactly once with keyset pages, short pages and running queries', async () => {
      emu.configure({ dataCloud: { shortPageRate: 0.5, runningPolls: 1, maxRowLimit: 1_500 } });
      const seen = new Set<string>();
      let last: string | null = null;
      let pages = 0;
      for (;;) {
        const where = last === null ? '' : ` WHERE "ExternalId__c" > '${last}'`;
        const rows = await fetchAll(`SELECT "ExternalId__c", "AccountExternalId__c" FROM "ExtOpportunities__dlm"${where} ORDER BY "ExternalId__c" LIMIT 5000`, 2_000);
        if (rows.length === 0) break;
        pages++;
        for (const r of rows) {
          const k = r[0] as string;
          expect(seen.has(k), k).to.equal(false);
          if (last !== null) expect(k > last).to.equal(true);
          seen.add(k);
        }
        last = rows[rows.length - 1][0] as string;
      }
      expect(pages).to.equal(6);
      expect(seen.size).to.equal(ds.table.rows.length);
    });

    it('reaches every row exactly once with composite (parent, key) keyset pages inside a parent range', async () => {
      emu.configure({ dataCloud: { shortPageRate: 0.5 } });
      const lower = ds.parentKeys[299];
      const upper = ds.parentKeys[899];
      const expected = new Set(ds.table.rows.filter((r) => (r.AccountExternalId__c as string) > lower && (r.AccountExternalId__c as string) <= upper).map((r) => r.ExternalId__c as string));
      const seen: string[] = [];
      let after: [string, string] | null = null;
      for (;;) {
        const preds = [`"AccountExternalId__c" > '${lower}'`, `"AccountExternalId__c" <= '${upper}'`];
        if (after) preds.push(`"AccountExternalId__c" > '${after[0]}' OR ("AccountExternalId__c" = '${after[0]}' AND "ExternalId__c" > '${after[1]}')`);
        const text = `SELECT "AccountExternalId__c", "ExternalId__c" FROM "ExtOpportunities__dlm" WHERE ${preds.map((p) => `(${p})`).join(' AND ')} ORDER BY "AccountExternalId__c", "ExternalId__c" LIMIT 3000`;
        const rows = await fetchAll(text, 1_000);
        if (!rows.length) break;
        for (const r of rows) seen.push(r[1] as string);
        const lastRow = rows[rows.length - 1];
        after = [lastRow[0] as string, lastRow[1] as string];
      }
      expect(seen.length).to.equal(expected.size);
      expect(new Set(seen).size).to.equal(seen.length);
      for (const k of seen) expect(expected.has(k)).to.equal(true);
    });
  });

  describe('query-sql lifecycle', () => {
    it('runs Running → ResultsProduced → Finished across status polls, then pages /rows', async () => {
      emu.configure({ dataCloud: { runningPolls: 2 } });
      const post = await call(emu, 'POST', `${V}/ssot/query-sql?dataspace=default&workloadName=test`, { sql: 'SELECT "Id__c", "Qty__c" FROM "Things__dlm" ORDER BY "Id__c"', rowLimit: 100 });
      expect(post.status).to.equal(200);
      expect(post.body.data).to.deep.equal([]);
      expect(post.body.returnedRows).to.equal(0);
      expect(post.body.metadata).to.have.length(2);
      const id = post.body.status.queryId as string;
      expect(id).to.match(/^[A-Za-z0-9_-]+$/);
      expect(post.body.status.completionStatus).to.equal('Running');
      expect(Object.keys(post.body.status).sort()).to.deep.equal(['chunkCount', 'completionStatus', 'expirationTime', 'progress', 'queryId', 'rowCount']);

      const early = await call(emu, 'GET', `${V}/ssot/query-sql/${id}/rows?offset=0&rowLimit=10`);
      expect(early.status).to.equal(400);

      const statuses: string[] = [];
      for (let i = 0; i < 4; i++) {
        const s = await call(emu, 'GET', `${V}/ssot/query-sql/${id}?waitTimeMs=20000`);
        expect(s.status).to.equal(200);
        statuses.push(s.body.completionStatus);
        if (i === 2) expect(s.body.rowCount).to.equal(8);
      }
      expect(statuses).to.deep.equal(['Running', 'Running', 'ResultsProduced', 'Finished']);

      const p1 = await call(emu, 'GET', `${V}/ssot/query-sql/${id}/rows?offset=0&rowLimit=3`);
      expect(p1.body).to.deep.equal({
        data: [['a1', 2], ['a2', 10], ['a3', null]],
        metadata: [
          { name: 'Id__c', type: 'Varchar', nullable: true },
          { name: 'Qty__c', type: 'Integer', nullable: true },
        ],
        returnedRows: 3,
      });
      const p2 = await call(emu, 'GET', `${V}/ssot/query-sql/${id}/rows?offset=6&limit=5&omitSchema=true`);
      expect(p2.body).to.deep.equal({ data: [['a7', 4], ['a8', 5]], returnedRows: 2 });
      const p3 = await call(emu, 'GET', `${V}/ssot/query-sql/${id}/rows?offset=8&rowLimit=5&omitSchema=true`);
      expect(p3.body).to.deep.equal({ data: [], returnedRows: 0 });
      expect((await call(emu, 'GET', `${V}/ssot/query-sql/${id}/rows?offset=-1`)).status).to.equal(400);

      const del = await call(emu, 'DELETE', `${V}/ssot/query-sql/${id}`);
      expect(del.status).to.equal(204);
      expect(del.text).to.equal('');
      const gone = await call(emu, 'GET', `${V}/ssot/query-sql/${id}`);
      expect(gone.status).to.equal(404);
      expect(gone.body[0].errorCode).to.equal('NOT_FOUND');
    });

    it('nests the status under {status} when statusShape is nested; 404 for unknown and malformed ids', async () => {
      emu.configure({ dataCloud: { statusShape: 'nested' } });
      const post = await sql('SELECT "Id__c" FROM "Things__dlm"');
      const s = await call(emu, 'GET', `${V}/ssot/query-sql/${post.body.status.queryId}`);
      expect(s.body.status.completionStatus).to.equal('ResultsProduced');
      expect(s.body.status.rowCount).to.equal(8);
      expect((await call(emu, 'GET', `${V}/ssot/query-sql/doesNotExist_123`)).status).to.equal(404);
      expect((await call(emu, 'GET', `${V}/ssot/query-sql/bad%2Fid/rows`)).status).to.equal(404);
      expect((await call(emu, 'DELETE', `${V}/ssot/query-sql/doesNotExist_123`)).status).to.equal(404);
    });

    it('caps inline rows at min(rowLimit, maxRowLimit), returns none for adaptiveTimeout 0, and shortens pages', async () => {
      emu.configure({ dataCloud: { maxRowLimit: 5 } });
      const capped = await sql('SELECT "Id__c" FROM "Things__dlm"', { rowLimit: 100 });
      expect(capped.body.returnedRows).to.equal(5);
      expect(capped.body.status.rowCount).to.equal(8);
      expect(capped.body.status.chunkCount).to.equal(2);
      const small = await sql('SELECT "Id__c" FROM "Things__dlm"', { rowLimit: 3 });
      expect(small.body.data).to.have.length(3);
      const none = await sql('SELECT "Id__c" FROM "Things__dlm"', { adaptiveTimeout: 0 });
      expect(none.body.data).to.deep.equal([]);
      expect(none.body.status.rowCount).to.equal(8);
      const rows = await call(emu, 'GET', `${V}/ssot/query-sql/${none.body.status.queryId}/rows?offset=0&rowLimit=100`);
      expect(rows.body.returnedRows).to.equal(5);

      emu.configure({ dataCloud: { shortPageRate: 1, maxRowLimit: 50_000 } });
      const q = await sql('SELECT "ExternalId__c" FROM "ExtOpportunities__dlm"', { rowLimit: 1000 });
      expect(q.body.returnedRows).to.be.within(1, 999);
      const page = await call(emu, 'GET', `${V}/ssot/query-sql/${q.body.status.queryId}/rows?offset=29999&rowLimit=1000`);
      expect(page.body.returnedRows).to.equal(1); // never empty while rows remain
    });

    it('reads strict JSON bodies and the data space from query, dataspaceName or header', async () => {
      const unknown = await call(emu, 'POST', `${V}/ssot/query-sql`, { query: 'SELECT 1' });
      expect(unknown.status).to.equal(400);
      expect(unknown.body[0].errorCode).to.equal('JSON_PARSER_ERROR');
      expect(unknown.body[0].message).to.contain('Unrecognized field "query"');
      const doubled = await call(emu, 'POST', `${V}/ssot/query-sql`, JSON.stringify(JSON.stringify({ sql: 'SELECT * FROM "Things__dlm"' })));
      expect(doubled.status).to.equal(400);
      expect(doubled.body[0].message).to.contain('Value does not match expected type');
      expect((await call(emu, 'POST', `${V}/ssot/query-sql`, '{not json')).body[0].errorCode).to.equal('JSON_PARSER_ERROR');
      expect((await call(emu, 'POST', `${V}/ssot/query-sql`, {})).status).to.equal(400);
      expect((await sql('SELECT * FROM "Things__dlm"', { adaptiveTimeout: 16 })).status).to.equal(400);
      expect((await sql('SELECT * FROM "Things__dlm"', { rowLimit: 'ten' })).status).to.equal(400);
      const settings = await sql('SELECT * FROM "Things__dlm"', { querySettings: { query_timeout: '1800000ms', date_style: 'MDY' } });
      expect(settings.status).to.equal(200);

      const st = dataCloudState(emu);
      const a = await call(emu, 'POST', `${V}/ssot/query-sql?dataspaceName=sales`, { sql: 'SELECT * FROM "Things__dlm"' });
      const b = await call(emu, 'POST', `${V}/ssot/query-sql`, { sql: 'SELECT * FROM "Things__dlm"' }, { dataspace: 'ops' });
      const c = await call(emu, 'POST', `${V}/ssot/query-sql?dataspace=emea`, { sql: 'SELECT * FROM "Things__dlm"' });
      const d = await sql('SELECT * FROM "Things__dlm"');
      expect([a, b, c, d].map((r) => st.queries.get(r.body.status.queryId)?.dataspace)).to.deep.equal(['sales', 'ops', 'emea', 'default']);
    });

    it('answers 429 beyond maxConcurrentQueries running queries, and frees a slot on cancel or completion', async () => {
      emu.configure({ dataCloud: { runningPolls: 1, maxConcurrentQueries: 2 } });
      const q1 = await sql('SELECT * FROM "Things__dlm"');
      const q2 = await sql('SELECT * FROM "Things__dlm"');
      expect([q1.status, q2.status]).to.deep.equal([200, 200]);
      const q3 = await sql('SELECT * FROM "Things__dlm"');
      expect(q3.status).to.equal(429);
      expect(q3.body[0].message).to.contain('concurrent');
      expect((await call(emu, 'DELETE', `${V}/ssot/query-sql/${q1.body.status.queryId}`)).status).to.equal(204);
      expect((await sql('SELECT * FROM "Things__dlm"')).status).to.equal(200);
      expect((await sql('SELECT * FROM "Things__dlm"')).status).to.equal(429);
      await call(emu, 'GET', `${V}/ssot/query-sql/${q2.body.status.queryId}`); // its one Running poll
      expect((await sql('SELECT * FROM "Things__dlm"')).status).to.equal(200);
    });

    it('answers 404 NOT_FOUND on every query-sql endpoint when querySqlEnabled is false, while queryv2 works', async () => {
      const before = await sql('SELECT * FROM "Things__dlm"');
      emu.configure({ dataCloud: { querySqlEnabled: false } });
      const id = before.body.status.queryId as string;
      for (const [m, p] of [
        ['POST', `${V}/ssot/query-sql`],
        ['GET', `${V}/ssot/query-sql/${id}`],
        ['GET', `${V}/ssot/query-sql/${id}/rows`],
        ['DELETE', `${V}/ssot/query-sql/${id}`],
      ]) {
        const r = await call(emu, m, p, m === 'POST' ? { sql: 'SELECT * FROM "Things__dlm"' } : undefined);
        expect(r.status, `${m} ${p}`).to.equal(404);
        expect(r.body[0].errorCode).to.equal('NOT_FOUND');
      }
      expect((await call(emu, 'POST', `${V}/ssot/queryv2`, { sql: 'SELECT * FROM "Things__dlm"' })).status).to.equal(200);
    });
  });

  describe('queryv2', () => {
    async function readAll(text: string): Promise<{ batches: any[]; rows: unknown[][] }> {
      const batches: any[] = [];
      let r = await call(emu, 'POST', `${V}/ssot/queryv2`, { sql: text });
      expect(r.status, r.text).to.equal(200);
      batches.push(r.body);
      while (!r.body.done) {
        r = await call(emu, 'GET', `${V}/ssot/queryv2/${r.body.nextBatchId}`);
        expect(r.status, r.text).to.equal(200);
        batches.push(r.body);
      }
      const rows = batches.flatMap((b) => (b.data as unknown[]).map((x) => (Array.isArray(x) ? x : (x as { rowData: unknown[] }).rowData)));
      return { batches, rows };
    }

    it('pages rowData batches with one-shot nextBatchIds and shuffled metadata keys (placeInOrder from 1)', async () => {
      emu.configure({ dataCloud: { queryv2BatchRows: 7_000 } });
      const { batches, rows } = await readAll('SELECT * FROM "ExtOpportunities__dlm"');
      expect(batches).to.have.length(5);
      const first = batches[0];
      expect(Object.keys(first).sort()).to.deep.equal(['data', 'done', 'endTime', 'metadata', 'nextBatchId', 'queryId', 'rowCount', 'startTime']);
      expect(first.data[0]).to.have.keys(['rowData']);
      expect(first.rowCount).to.equal(7_000);
      expect(new Set(batches.map((b) => b.queryId)).size).to.equal(1);
      expect(batches[4].done).to.equal(true);
      expect(batches[4].nextBatchId).to.equal(undefined);
      expect(rows).to.have.length(30_000);
      expect(new Set(rows.map((r) => r[0])).size).to.equal(30_000);

      const meta = first.metadata as Record<string, { type: string; placeInOrder: number; typeCode: number }>;
      const colNames = ds.table.columns.map((c) => c.name);
      expect(Object.keys(meta)).to.have.members(colNames);
      expect(Object.keys(meta)).to.not.deep.equal(colNames);
      const byPlace = Object.entries(meta).sort((a, b) => a[1].placeInOrder - b[1].placeInOrder);
      expect(byPlace.map(([n]) => n)).to.deep.equal(colNames);
      expect(byPlace[0][1]).to.deep.equal({ type: 'VARCHAR', typeCode: 12, placeInOrder: 1 });
      expect(meta.CloseDate__c.type).to.equal('DATE');
      expect(meta.Amount__c.typeCode).to.equal(3);

      // A used batch id cannot be used again.
      const r = await call(emu, 'POST', `${V}/ssot/queryv2`, { sql: 'SELECT "ExternalId__c" FROM "ExtOpportunities__dlm"' });
      const next = r.body.nextBatchId as string;
      expect((await call(emu, 'GET', `${V}/ssot/queryv2/${next}`)).status).to.equal(200);
      const again = await call(emu, 'GET', `${V}/ssot/queryv2/${next}`);
      expect(again.status).to.equal(400);
      expect(again.body[0].message).to.contain('already used');
      expect((await call(emu, 'GET', `${V}/ssot/queryv2/00000000-0000-0000-0000-000000000000`)).status).to.equal(404);
      expect((await call(emu, 'POST', `${V}/ssot/queryv2`, { sql: 'SELECT 1', rowLimit: 5 })).body[0].message).to.contain('Unrecognized field "rowLimit"');
    });

    it('serves plain array rows, placeInOrder from 0, and short batches that still cover every row once', async () => {
      emu.configure({ dataCloud: { queryv2RowShape: 'array', placeInOrderBase: 0, queryv2BatchRows: 2_000, shortPageRate: 0.5 } });
      const { batches, rows } = await readAll('SELECT "ExternalId__c", "Amount__c" FROM "ExtOpportunities__dlm" WHERE "Amount__c" > 1000 ORDER BY "ExternalId__c"');
      expect(Array.isArray(batches[0].data[0])).to.equal(true);
      expect(batches[0].metadata).to.deep.equal({ Amount__c: { type: 'DECIMAL', typeCode: 3, placeInOrder: 1 }, ExternalId__c: { type: 'VARCHAR', typeCode: 12, placeInOrder: 0 } });
      expect(batches.some((b) => b.rowCount < 2_000 && !b.done)).to.equal(true);
      for (const b of batches) expect(b.rowCount).to.equal(b.data.length);
      const expected = ds.table.rows.filter((r) => (r.Amount__c as number) > 1000).map((r) => r.ExternalId__c).sort();
      expect(rows.map((r) => r[0])).to.deep.equal(expected);
      expect(rows.every((r) => typeof r[1] === 'number')).to.equal(true);
    });
  });

  describe('not provisioned', () => {
    it("answers every Data Cloud endpoint with Couldn't find CDP tenant ID", async () => {
      const q = await sql('SELECT * FROM "Things__dlm"');
      emu.configure({ dataCloud: { provisioned: false } });
      const id = q.body.status.queryId as string;
      for (const [m, p] of [
        ['POST', `${V}/ssot/query-sql`],
        ['GET', `${V}/ssot/query-sql/${id}`],
        ['GET', `${V}/ssot/query-sql/${id}/rows`],
        ['DELETE', `${V}/ssot/query-sql/${id}`],
        ['POST', `${V}/ssot/queryv2`],
        ['GET', `${V}/ssot/queryv2/abc`],
      ]) {
        const r = await call(emu, m, p, m === 'POST' ? { sql: 'SELECT * FROM "Things__dlm"' } : undefined);
        expect(r.status, `${m} ${p}`).to.equal(400);
        expect(r.body).to.deep.equal([{ message: `Couldn't find CDP tenant ID for org ${emu.config.auth.orgId}`, errorCode: 'INTERNAL_ERROR' }]);
      }
    });
  });
});
