/*
 * Issue 12, suite 2: hostile input, through the plugin's commands against the emulator. Each
 * case either loads correctly, checked in the emulator's target field by field (exactly the
 * source value, except that null becomes empty), or fails with a clear error (exit 1, an error
 * name, actions) and loses nothing; rows that cannot be carried are listed with their code.
 *
 *   values     quotes, backslashes, ;, commas, CR, LF, CRLF, tabs, NUL, emoji and other
 *              non-ASCII text, edge spaces, #N/A, a spreadsheet formula, 32,000 characters,
 *              numbers beyond 2^53 (keys and amounts), in keys, parents and fields alike;
 *              keys that differ only in case; rows wider than the upload cap
 *   names      SQL in object, column and filter names through `start`, by flag and by file
 *              (plan's handling is in test/commands/definition.test.ts): refused, no request sent;
 *              objects and fields that do not exist
 *   run files  run ids that are paths, a truncated or corrupt status file, an empty source
 */
import { expect } from 'chai';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { targetSObjects } from '../emulator/dataset.js';
import type { DcColumn, DcTable } from '../emulator/config.js';
import { FaultHarness, until, type Fields, printCaseCount } from '../helpers/fault-harness.js';
import { failedNow, jobLog } from '../helpers/ledger.js';
import type { CommandResult } from '../helpers/plugin.js';
import { RunDir } from '../../src/state/run-dir.js';

type Cell = string | number | null;
type HostileRow = { name: string; key: Cell; parent: Cell; Name: Cell; Description: Cell; Amount: Cell; fails?: string };

const COLUMNS: DcColumn[] = [
  { name: 'ExternalId__c', type: 'Varchar' },
  { name: 'AccountExternalId__c', type: 'Varchar' },
  { name: 'Name__c', type: 'Varchar' },
  { name: 'Description__c', type: 'Varchar' },
  { name: 'Amount__c', type: 'Numeric' },
];
const MAPPING = { ExternalId__c: 'External_ID__c', Name__c: 'Name', Description__c: 'Description', Amount__c: 'Amount', AccountExternalId__c: 'Account.External_ID__c' };
const SOBJECTS = targetSObjects({ extraColumns: 1 });

/** Hostile values in keys, parents and fields; `fails` is the code a row that cannot be carried is listed with. */
const HOSTILE: HostileRow[] = [
  { name: "a single quote (')", key: "k'01", parent: "acc'O''Brien", Name: "O'Brien", Description: "it's ''quoted''", Amount: 1 },
  { name: 'a double quote (")', key: 'k"02"', parent: 'acc"2', Name: 'say "hi"', Description: '""', Amount: 2 },
  { name: 'a backslash (\\)', key: 'k\\03', parent: 'acc\\3\\', Name: 'C:\\dir\\n', Description: '\\', Amount: 3 },
  { name: 'a semicolon and SQL in a value', key: 'k;04', parent: 'acc;4', Name: 'a;b;c', Description: "'; DROP TABLE Opportunity; --", Amount: 4 },
  { name: 'commas', key: 'k,05', parent: 'acc,5', Name: 'one, two, three', Description: ',,,', Amount: 5 },
  { name: 'a carriage return (CR)', key: 'k\r06', parent: 'acc6', Name: 'carriage\rreturn', Description: '\r', Amount: 6 },
  { name: 'a line feed (LF)', key: 'k\n07', parent: 'acc\n7', Name: 'line1\nline2', Description: '\n\n', Amount: 7 },
  { name: 'tabs', key: 'k\t08', parent: 'acc\t8', Name: 'tab\there', Description: '\t', Amount: 8 },
  { name: 'emoji', key: 'k😀09', parent: 'acc😀', Name: '😀👍🏽 emoji', Description: '🇫🇷 👨‍👩‍👧', Amount: 9 },
  { name: 'other non-ASCII text (accents, CJK, Greek, Arabic, combining marks)', key: 'kü10ß', parent: 'accé', Name: 'café 日本語 Ωμέγα', Description: 'مرحبا e\u0301', Amount: 10 },
  { name: 'leading and trailing spaces', key: ' k11 ', parent: ' acc11 ', Name: '  padded  ', Description: ' ', Amount: 11 },
  { name: "a spreadsheet formula (=cmd|' /C calc'!A0), kept as data", key: "=cmd|' /C calc'!A0", parent: '=1+1', Name: "=cmd|' /C calc'!A0", Description: '+1-1 @SUM(A1)', Amount: 12 },
  { name: 'a 32,000-character string', key: 'k13', parent: 'acc13', Name: 'long', Description: 'x'.repeat(31_990) + 'end"quote', Amount: 13 },
  { name: 'SQL comment markers', key: 'k--14', parent: 'acc/*14*/', Name: '-- not a comment', Description: '/* not */', Amount: 14 },
  { name: 'nulls in every field and the parent (null becomes empty)', key: 'k15', parent: null, Name: null, Description: null, Amount: null },
  { name: 'empty strings (stored as empty)', key: 'k16', parent: 'acc16', Name: '', Description: '', Amount: 0 },
  { name: 'whitespace-only text', key: 'k17', parent: 'acc17', Name: '   ', Description: '\t \t', Amount: -0.5 },
  { name: '#N/A inside a longer text', key: 'k18', parent: 'acc18', Name: 'see #N/A here', Description: '#N/A #N/A', Amount: 18 },
  { name: 'the literal #N/A (a Bulk CSV would clear the field)', key: 'k19', parent: 'acc19', Name: '#N/A', Description: 'd', Amount: 19, fails: 'UNREPRESENTABLE_VALUE' },
  { name: 'a NUL character in a value', key: 'k20', parent: 'acc20', Name: 'nul\u0000inside', Description: 'd', Amount: 20, fails: 'UNREPRESENTABLE_VALUE' },
  { name: 'a null key', key: null, parent: 'acc21', Name: 'no key', Description: 'd', Amount: 21, fails: 'MISSING_KEY' },
  { name: 'a key that differs only in case from another (the first read loads)', key: 'CASE-22', parent: 'acc22', Name: 'upper', Description: 'd', Amount: 22 },
  { name: 'its lower-case twin (a duplicate in a case-insensitive org)', key: 'case-22', parent: 'acc22', Name: 'lower', Description: 'd', Amount: 23, fails: 'DUPLICATE_SOURCE_KEY' },
];

function table(name: string, rows: HostileRow[], columns = COLUMNS): DcTable {
  return { name, columns, rows: rows.map((r) => ({ ExternalId__c: r.key, AccountExternalId__c: r.parent, Name__c: r.Name, Description__c: r.Description, Amount__c: r.Amount })) };
}

const text = (v: Cell): string => (v === null ? '' : String(v));
function fieldsOf(r: HostileRow): Fields {
  return { External_ID__c: text(r.key), Name: text(r.Name), Description: text(r.Description), Amount: text(r.Amount), 'Account.External_ID__c': text(r.parent) };
}

/** Filler rows so that hostile keys fall on page and partition boundaries. */
function plain(n: number, prefix = 'p'): HostileRow[] {
  return Array.from({ length: n }, (_, i) => ({ name: `plain ${i}`, key: `${prefix}${String(i).padStart(3, '0')}`, parent: `acc${i % 7}`, Name: `Plain ${i}`, Description: `row ${i}`, Amount: i * 10 + 0.25 }));
}

describe('hostile input (issue 12): loaded exactly, or refused with a clear error and nothing lost', function () {
  after(function () {
    printCaseCount(this);
  });
  this.timeout(900_000);
  let h: FaultHarness;
  let cases = 0;

  before(async () => {
    h = await FaultHarness.start();
  });
  after(async () => {
    console.log(`      hostile input: ${cases} cases`);
    await h?.close();
  });

  function serveRows(name: string, rows: HostileRow[], pacing: Record<string, unknown> = {}, columns = COLUMNS): string {
    return h.serve(name, { table: table(`${name.replace(/[^A-Za-z0-9]/g, '')}__dlm`, rows, columns), sobjects: SOBJECTS }, { rowsPerJob: 4, ...pacing }, (def) => (def.target.mapping = MAPPING));
  }

  /** A refusal: exit 1, an error name, actions, nothing written to the org (no job), no run directory unless one existed. */
  function refused(res: CommandResult, name: string, message: RegExp, opts: { jobsBefore: number; runsBefore: string[] }): void {
    const context = `exit ${res.code}\n${res.stdout.slice(0, 3000)}\n${res.stderr.slice(-2000)}`;
    expect(res.code, context).to.equal(1);
    expect(res.json?.name, context).to.equal(name);
    expect(res.json.message, context).to.match(message);
    expect(res.json.actions, context).to.be.an('array').that.is.not.empty;
    expect(h.jobMark(), 'no Bulk job was created').to.equal(opts.jobsBefore);
    expect(runs(), 'no run directory was created').to.deep.equal(opts.runsBefore);
    cases++;
  }
  const runs = (): string[] => (existsSync(h.org.runsDir) ? readdirSync(h.org.runsDir).sort() : []);
  const snapshot = (): { jobsBefore: number; runsBefore: string[] } => ({ jobsBefore: h.jobMark(), runsBefore: runs() });

  describe('hostile values in keys, parents and fields, in one load (4 rows per page: they fall on page and partition boundaries)', () => {
    let res: CommandResult;
    const rows = [...plain(12), ...HOSTILE];

    before(async () => {
      res = await h.start(serveRows('hostile', rows));
    });

    it('the load finishes (exit 2): exactly the rows that cannot be carried are listed, each with its code; status totals = the emulator', async () => {
      expect(res.json?.result?.state, res.stdout.slice(0, 2000) + res.stderr.slice(-2000)).to.equal('completed');
      expect(res.code).to.equal(2);
      const failed = failedNow(h.run(res.json.result.runId)).map((f) => [f.key, f.code]);
      expect(failed.sort()).to.deep.equal(HOSTILE.filter((r) => r.fails).map((r) => [r.key, r.fails]).sort());
      const expected = new Map(rows.filter((r) => !r.fails).map((r) => [String(r.key), fieldsOf(r)]));
      h.expectTarget(expected, [], 'hostile');
      await h.expectStatusMatchesEmulator(res.json.result.runId, 'hostile');
      cases++;
    });

    for (const r of HOSTILE) {
      it(`${r.name}: ${r.fails ? `failed ${r.fails}, not blanked or altered` : 'loaded exactly'}`, () => {
        const table2 = h.emu.target.table('Opportunity');
        if (!r.fails) {
          const rec = table2.get(String(r.key));
          expect(rec, `row ${JSON.stringify(r.key)}`).to.not.equal(undefined);
          expect(rec!.fields).to.deep.equal(fieldsOf(r));
          expect(rec!.writes).to.equal(1);
        } else {
          const f = failedNow(h.run(res.json.result.runId)).find((x) => x.key === r.key && x.code === r.fails);
          expect(f, `a ${r.fails} failure for ${JSON.stringify(r.key)}`).to.not.equal(undefined);
          expect(f!.message).to.be.a('string').that.is.not.empty;
          if (r.fails === 'DUPLICATE_SOURCE_KEY') {
            // The record is the other copy's, unchanged by this one.
            expect(table2.get(String(r.key))!.fields.Name).to.equal('upper');
          } else if (r.key !== null) {
            expect(table2.get(String(r.key)), 'nothing was written for it').to.equal(undefined);
          }
        }
        cases++;
      });
    }
  });

  it('a value with CRLF inside (an LF job would be refused whole by the org): its row loads exactly or is failed alone, never the rows beside it', async () => {
    const rows = [...plain(6), { name: 'crlf', key: 'crlf1', parent: 'acc1', Name: 'first\r\nsecond', Description: 'x\r\ny', Amount: 1 }];
    const res = await h.start(serveRows('crlf', rows, { rowsPerJob: 7 }));
    const failed = failedNow(h.run(res.json.result.runId));
    expect(failed.filter((f) => f.key !== 'crlf1').map((f) => `${f.key}: ${f.code} ${f.message}`), 'rows beside it are not failed').to.deep.equal([]);
    const expected = new Map(rows.filter((r) => !failed.some((f) => f.key === r.key)).map((r) => [String(r.key), fieldsOf(r)]));
    h.expectTarget(expected, [], 'crlf');
    cases++;
  });

  it('a NUL character in a key: the row is failed with a message that names the NUL, the rest loads', async () => {
    const rows = [...plain(3, 'a'), { name: 'nul key', key: 'a003\u0000', parent: 'acc2', Name: 'nul key', Description: 'd', Amount: 1 }, ...plain(5, 'b')];
    const res = await h.start(serveRows('nulkey', rows, { rowsPerJob: 4, partitions: 1, partitionBy: 'key' }));
    expect(res.json?.result?.state, res.stdout.slice(0, 2000)).to.equal('completed');
    h.expectTarget(new Map(rows.filter((r) => r.name !== 'nul key').map((r) => [String(r.key), fieldsOf(r)])), [], 'nul key');
    const failed = failedNow(h.run(res.json.result.runId));
    expect(failed.map((f) => f.code)).to.have.length(1);
    expect(failed[0].code).to.be.oneOf(['UNREPRESENTABLE_VALUE', 'INVALID_KEY']);
    expect(failed[0].message, 'the message names the problem').to.match(/NUL/);
    cases++;
  });

  describe('numbers beyond 2^53 keep every digit (keys over a Numeric key column, amounts)', () => {
    const NUMERIC_KEY: DcColumn[] = COLUMNS.map((c) => (c.name === 'ExternalId__c' ? { ...c, type: 'Numeric' as const } : c));
    const numberRows = (keys: string[], amounts: string[]): HostileRow[] => keys.map((k, i) => ({ name: k, key: k, parent: `acc${i % 2}`, Name: `n${i}`, Description: 'd', Amount: amounts[i % amounts.length] }));

    /** start, stopped (SIGKILL) once it has made more than `maxJobs` Bulk jobs: a run that loops is a failure, not a hang. */
    async function startCapped(def: string, maxJobs: number): Promise<{ res: CommandResult; jobs: number; looped: boolean }> {
      const mark = h.jobMark();
      const s = h.spawnStart(def);
      let exited = false;
      void s.closed.then(() => (exited = true));
      await until(() => (exited || h.jobMark() - mark > maxJobs ? true : undefined), 240_000, 'the run to end');
      const looped = !exited;
      if (looped) s.child.kill('SIGKILL');
      return { res: await s.result(), jobs: h.jobMark() - mark, looped };
    }

    const sets: Array<{ name: string; keys: string[]; amounts: string[] }> = [
      { name: '20-digit keys and 30-digit amounts', keys: ['12345678901234567890', '12345678901234567891', '-99999999999999999999', '1', '40000000000000000001'], amounts: ['123456789012345678901234.56789', '0.000000000000000000001', '-9007199254740993', '0.0000001'] },
      { name: 'a 16-digit key just past 2^53 (9007199254740993)', keys: ['9007199254740993', '9007199254740995', '5', '7'], amounts: ['1', '2'] },
      { name: 'a 29-digit key (99999999999999999999999999999)', keys: ['99999999999999999999999999999', '3', '4'], amounts: ['1'] },
      { name: 'amounts of 17 significant digits (9007199254740993.5, 1234567890123456.7)', keys: ['k1', 'k2'], amounts: ['9007199254740993.5', '1234567890123456.7'] },
    ];
    for (const set of sets) {
      it(`${set.name}: loaded with every digit, each row once`, async () => {
        const rows = numberRows(set.keys, set.amounts);
        const columns = set.keys.every((k) => /^-?\d+$/.test(k)) ? NUMERIC_KEY : COLUMNS;
        const { res, jobs, looped } = await startCapped(serveRows(`num${cases}`, rows, { rowsPerJob: 2, partitions: 2, partitionBy: 'key' }, columns), 30);
        expect(looped, `the run loops: ${jobs} Bulk jobs for ${rows.length} rows`).to.equal(false);
        expect(res.code, res.stdout.slice(0, 2000) + res.stderr.slice(-2000)).to.equal(0);
        h.expectTarget(new Map(rows.map((r) => [String(r.key), fieldsOf(r)])), [], set.name);
        cases++;
      });
    }
  });

  it('rows wider than the upload cap (maxJobBytes 200,000, 40 rows of 30 KB): every upload stays under the cap and every row loads', async () => {
    const rows: HostileRow[] = Array.from({ length: 40 }, (_, i) => ({ name: `wide ${i}`, key: `w${String(i).padStart(2, '0')}`, parent: `acc${i % 3}`, Name: `Wide ${i}`, Description: `${i}:`.padEnd(30_000, 'abcdefgh, "q"\n'), Amount: i }));
    const mark = h.jobMark();
    const res = await h.start(serveRows('wide', rows, { rowsPerJob: 40, partitions: 1, maxJobBytes: 200_000 }));
    expect(res.code, res.stdout.slice(0, 2000) + res.stderr.slice(-2000)).to.equal(0);
    const jobs = h.emu.bulk.inspectJobs().slice(mark);
    expect(jobs.length, 'the page was split into several jobs').to.be.at.least(6);
    expect(Math.max(...jobs.map((j) => j.uploadedBytes)), 'the largest upload').to.be.at.most(200_000);
    const logged = jobLog(h.run(res.json.result.runId)).filter((r) => r.t === 'uploaded').map((r) => (r as { bytes: number }).bytes);
    expect(Math.max(...logged)).to.be.at.most(200_000);
    h.expectTarget(new Map(rows.map((r) => [String(r.key), fieldsOf(r)])), [], 'wide rows');
    cases++;
  });

  it('a row wider than the cap on its own (maxJobBytes 50,000, one 64 KB row): failed ROW_TOO_LARGE, the others load', async () => {
    const rows: HostileRow[] = [...plain(5), { name: 'huge', key: 'huge', parent: 'acc1', Name: 'n'.repeat(32_000), Description: 'd'.repeat(32_000), Amount: 1 }];
    const res = await h.start(serveRows('toolarge', rows, { rowsPerJob: 6, maxJobBytes: 50_000 }));
    expect(res.code, res.stdout.slice(0, 2000)).to.equal(2);
    expect(failedNow(h.run(res.json.result.runId)).map((f) => [f.key, f.code])).to.deep.equal([['huge', 'ROW_TOO_LARGE']]);
    h.expectTarget(new Map(rows.filter((r) => r.key !== 'huge').map((r) => [String(r.key), fieldsOf(r)])), [], 'too large');
    cases++;
  });

  it('a filter with a hostile text literal (quotes doubled, ";" and "--" inside the literal) is one predicate: the matching rows load exactly', async () => {
    const rows = [...plain(6), { name: 'target', key: 'lit1', parent: 'acc1', Name: "x'; DROP TABLE y; --", Description: 'd', Amount: 1 }];
    const def = serveRows('literal', rows, {}, COLUMNS);
    const file = JSON.parse(readFileSync(def, 'utf8'));
    file.source.filter = `"Name__c" = 'x''; DROP TABLE y; --' OR "Amount__c" < 20`;
    const res = await h.start(h.writeDefinition('literal-filter', file));
    expect(res.code, res.stdout.slice(0, 2000) + res.stderr.slice(-2000)).to.equal(0);
    h.expectTarget(new Map(rows.filter((r) => r.key === 'lit1' || Number(r.Amount) < 20).map((r) => [String(r.key), fieldsOf(r)])), [], 'literal');
    cases++;
  });

  describe('SQL in object, column and filter names through start: refused before any request, no run created', () => {
    const DEF = { version: 1, source: { object: 'Hostile__dlm', keyColumn: 'ExternalId__c', parentColumn: 'AccountExternalId__c' }, target: { object: 'Opportunity', externalIdField: 'External_ID__c', mapping: MAPPING }, pacing: {} };
    const BASE_FLAGS = ['--source-object', 'Hostile__dlm', '--key-column', 'ExternalId__c', '--target-object', 'Opportunity', '--external-id-field', 'External_ID__c', '--mapping', 'ExternalId__c=External_ID__c,Name__c=Name'];
    const cases2: Array<{ name: string; def?: unknown; flags?: string[]; message: RegExp }> = [
      { name: 'by flag: --source-object with a quote and DROP', flags: ['--source-object', 'Hostile__dlm"; DROP TABLE x; --', ...BASE_FLAGS.slice(2)], message: /source\.object \(from --source-object\) must be an API name/ },
      { name: 'by flag: --parent-column with a quote', flags: [...BASE_FLAGS, '--parent-column', 'AccountExternalId__c" OR 1=1 --'], message: /source\.parentColumn \(from --parent-column\) must be an API name/ },
      { name: 'by flag: --filter with a second statement', flags: [...BASE_FLAGS, '--filter', `"Amount__c" > 0; DELETE FROM "Hostile__dlm"`], message: /source\.filter \(from --filter\) must be a single predicate/ },
      { name: 'by flag: --mapping with a quoted column', flags: [...BASE_FLAGS.slice(0, 8), '--mapping', 'ExternalId__c=External_ID__c,"Name__c"=Name'], message: /must be an API name/ },
      { name: 'by file: source.columns with a subquery', def: { ...DEF, source: { ...DEF.source, columns: ['ExternalId__c', '(SELECT 1)'] } }, message: /source\.columns\[1\] must be an API name/ },
      { name: 'by file: source.keyColumn with a quote', def: { ...DEF, source: { ...DEF.source, keyColumn: 'ExternalId__c"--' } }, message: /source\.keyColumn must be an API name/ },
      { name: 'by file: source.dataspace with SQL', def: { ...DEF, source: { ...DEF.source, dataspace: "default'; DROP" } }, message: /source\.dataspace/ },
      { name: 'by file: a filter that closes its parenthesis', def: { ...DEF, source: { ...DEF.source, filter: '1=1) OR (1=1' } }, message: /closes a parenthesis that was never opened/ },
    ];
    for (const c of cases2) {
      it(c.name, async () => {
        const b = snapshot();
        const requests = h.emu.requests.length;
        const args = ['datacloud', 'load', 'start', '-o', 'emu', ...(c.def ? ['--definition', h.writeDefinition(`sql-${cases}`, c.def)] : []), ...(c.flags ?? []), '--json'];
        const res = await h.plugin(args);
        refused(res, 'InvalidDefinitionError', c.message, b);
        expect(h.emu.requests.slice(requests).map((r) => `${r.method} ${r.path}`), 'the emulator received no request').to.deep.equal([]);
      });
    }
  });

  describe('objects and fields that do not exist: exit 1 naming them, no run, no job', () => {
    const rows = plain(5);
    const bad: Array<{ name: string; edit: (d: Record<string, any>) => void; error: string; message: RegExp }> = [
      { name: 'a source object that does not exist', edit: (d) => (d.source.object = 'Nope__dlm'), error: 'SourceQueryRejectedError', message: /Nope__dlm/ },
      { name: 'a source column that does not exist', edit: (d) => (d.target.mapping = { ...d.target.mapping, Nope__c: 'StageName' }), error: 'SourceQueryRejectedError', message: /rejected a query/ },
      { name: 'a target object that does not exist', edit: (d) => (d.target.object = 'Nope__c'), error: 'UnknownTargetObjectError', message: /no sObject named Nope__c/ },
      { name: 'a target field that does not exist', edit: (d) => (d.target.mapping = { ...d.target.mapping, Name__c: 'Nope__c' }), error: 'UnknownTargetFieldError', message: /Opportunity has no field Nope__c/ },
      { name: 'a relationship that does not exist', edit: (d) => (d.target.mapping = { ...d.target.mapping, AccountExternalId__c: 'Nope.External_ID__c' }), error: 'UnknownTargetFieldError', message: /no relationship named Nope/ },
      { name: 'an external id field that is not an External ID', edit: (d) => ((d.target.externalIdField = 'Name'), (d.target.mapping = { ExternalId__c: 'Name' })), error: 'NotAnExternalIdError', message: /Opportunity\.Name is not an External ID field/ },
      { name: 'an empty source', edit: (d) => (d.source.object = 'Empty__dlm'), error: 'EmptySourceError', message: /Empty__dlm has no rows/ },
      { name: 'a filter no row matches', edit: (d) => (d.source.filter = `"Amount__c" < -1000`), error: 'EmptySourceError', message: /no rows matching the filter/ },
    ];
    for (const c of bad) {
      it(c.name, async () => {
        const def = serveRows('missing', rows);
        h.emu.configure({ dataCloud: { tables: { Empty__dlm: { name: 'Empty__dlm', columns: COLUMNS, rows: [] } } } });
        const file = JSON.parse(readFileSync(def, 'utf8'));
        c.edit(file);
        const b = snapshot();
        refused(await h.start(h.writeDefinition(`missing-${cases}`, file)), c.error, c.message, b);
      });
    }
  });

  describe('run ids and status files', () => {
    let stoppedRun: string;
    before(async () => {
      // A run killed after its second result: resumable, with a ledger to damage.
      const res = await h.start(serveRows('victim', plain(20), { rowsPerJob: 4, maxConcurrency: 1 }), [], { SF_DATACLOUD_LOAD_TEST_CRASH: 'after-result:2' });
      expect(res.code).to.equal(null);
      stoppedRun = RunDir.list(h.org.runsDir).at(-1)!;
    });

    for (const id of ['..', '../../x', '/etc', '.', '../runs', 'a/../../b']) {
      it(`--run-id ${JSON.stringify(id)} (a path) is refused by resume, retry-failures, report and cancel: exit 1 InvalidRunIdError, nothing read or written`, async () => {
        // A decoy run outside the runs root: never opened.
        const decoy = join(h.org.home, 'decoy');
        if (!existsSync(decoy)) cpSync(join(h.org.runsDir, stoppedRun), join(decoy, stoppedRun), { recursive: true });
        const snapshot = readFileSync(join(decoy, stoppedRun, 'jobs.ndjson'));
        for (const cmd of [['resume', '-o', 'emu'], ['retry-failures', '-o', 'emu'], ['report'], ['cancel']]) {
          const res = await h.plugin(['datacloud', 'load', ...cmd, '--run-id', id === '../runs' ? `../decoy/${stoppedRun}` : id, '--json']);
          expect(res.code, `${cmd[0]}: ${res.stdout.slice(0, 1000)}`).to.equal(1);
          expect(res.json?.name, `${cmd[0]}: ${res.stdout.slice(0, 1000)}`).to.equal('InvalidRunIdError');
          expect(res.json.actions).to.be.an('array').that.is.not.empty;
        }
        expect(readFileSync(join(decoy, stoppedRun, 'jobs.ndjson')).equals(snapshot)).to.equal(true);
        expect(h.run(stoppedRun).readManifest().state, 'the real run is untouched').to.equal('running');
        cases++;
      });
    }

    const damages: Array<{ name: string; file: string; damage: (text: string) => string; message: RegExp }> = [
      { name: 'a truncated run.json', file: 'run.json', damage: (t) => t.slice(0, Math.floor(t.length / 2)), message: /run\.json is damaged \(is not valid JSON\)/ },
      { name: 'an empty run.json', file: 'run.json', damage: () => '', message: /run\.json is damaged/ },
      { name: 'a corrupt line in the middle of jobs.ndjson', file: 'jobs.ndjson', damage: (t) => t.split('\n').map((l, i) => (i === 2 ? l.slice(0, 20) + '#garbage' : l)).join('\n'), message: /jobs\.ndjson is damaged \(line 3 is not valid JSON\)/ },
      { name: 'binary garbage in jobs.ndjson', file: 'jobs.ndjson', damage: (t) => '\u0000\u00ff{{{\n' + t, message: /jobs\.ndjson is damaged \(line 1 is not valid JSON\)/ },
    ];
    for (const d of damages) {
      it(`${d.name}: resume exits 1 CorruptStatusFileError naming the file, changes nothing; once repaired, resume finishes the run`, async () => {
        const file = join(h.org.runsDir, stoppedRun, d.file);
        const good = readFileSync(file, 'utf8');
        const damaged = d.damage(good);
        writeFileSync(file, damaged);
        const res = await h.resume(stoppedRun);
        expect(res.code, res.stdout.slice(0, 2000)).to.equal(1);
        expect(res.json?.name).to.equal('CorruptStatusFileError');
        expect(res.json.message).to.match(d.message).and.to.match(/Nothing was changed/);
        expect(res.json.actions).to.be.an('array').that.is.not.empty;
        expect(readFileSync(file, 'utf8'), 'the damaged file is left as it was').to.equal(damaged);
        writeFileSync(file, good);
        cases++;
      });
    }

    it('the victim run, repaired, resumes to completion: nothing was lost', async () => {
      const res = await h.resume(stoppedRun);
      expect(res.code, res.stdout.slice(0, 2000) + res.stderr.slice(-2000)).to.equal(0);
      expect(res.json.result.totals.loaded).to.equal(20);
      h.expectTarget(new Map(plain(20).map((r) => [String(r.key), fieldsOf(r)])), [], 'victim');
      cases++;
    });
  });

  it('a runs directory that is a file, not a folder: exit 1 with an error naming it, nothing created', async () => {
    const notDir = join(h.org.home, 'not-a-dir');
    writeFileSync(notDir, 'x');
    const def = serveRows('notdir', plain(4));
    const mark = h.jobMark();
    const res = await h.start(def, ['--runs-dir', notDir]);
    expect(res.code, res.stdout.slice(0, 2000)).to.equal(1);
    expect(res.json?.name).to.match(/Error$/);
    expect(res.json.message).to.contain('not-a-dir');
    expect(readFileSync(notDir, 'utf8')).to.equal('x');
    expect(h.jobMark()).to.equal(mark);
    cases++;
  });
});
