/*
 * The load definition through the plugin's commands (`node bin/run.js datacloud load plan|start`
 * in child processes with an isolated HOME): hostile names and filters, wrong types, unknown
 * keys, missing fields and out-of-range pacing are refused with one InvalidDefinitionError
 * (exit 1, name, every problem on its own line, actions) before the org is looked up or called;
 * doubtful settings warn; the help states every flag's options and limits.
 */
import { expect } from 'chai';
import { mkdtempSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, type Cli } from '../helpers/runs.js';
import { loginToEmulator, runPlugin, type OrgHome } from '../helpers/plugin.js';
import { startEmulator, type Emulator } from '../emulator/server.js';
import { generateDataset, datasetConfig, opportunityDefinition } from '../emulator/dataset.js';

const dir = mkdtempSync(join(tmpdir(), 'dcl-def-'));
let fileNo = 0;

/** A definition file: an object (JSON-encoded) or raw text. */
function file(content: unknown): string {
  const f = join(dir, `def-${++fileNo}.json`);
  writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return f;
}

type Def = { version?: unknown; source?: Record<string, unknown>; target?: Record<string, unknown>; pacing?: Record<string, unknown>; [k: string]: unknown };

/** The sample definition with parts replaced. */
function def(patch: { source?: Record<string, unknown>; target?: Record<string, unknown>; pacing?: Record<string, unknown>; top?: Record<string, unknown> } = {}): Def {
  const base = opportunityDefinition('ExtOpportunities__dlm') as Def;
  return {
    ...base,
    ...patch.top,
    source: { ...base.source, ...patch.source },
    target: { ...base.target, ...patch.target },
    pacing: { ...base.pacing, ...patch.pacing },
  };
}

/** Stderr of an oclif warning, unwrapped: `›` margins and line breaks removed. */
const unwrap = (s: string): string => s.replace(/\s*›\s*/g, ' ').replace(/\s+/g, ' ');

type Case = {
  name: string;
  /** Definition file content; omitted for flags-only cases. */
  def?: unknown;
  args?: string[];
  command?: 'plan' | 'start';
  /** Error name expected (default InvalidDefinitionError). */
  error?: string;
  /** Each must match the error message. */
  message: RegExp[];
  /** JSON paths expected in data.problems. */
  paths?: string[];
};

const MAP = { ExternalId__c: 'External_ID__c' };
const FLAGS = ['--source-object', 'ExtOpportunities__dlm', '--key-column', 'ExternalId__c', '--target-object', 'Opportunity', '--external-id-field', 'External_ID__c', '--mapping', 'ExternalId__c=External_ID__c'];
const API_NAME_RULE = /letters, digits and underscores only, starting with a letter/;

const CASES: Case[] = [
  // Hostile names, by file and by flag.
  { name: 'SQL in source.object (file)', def: def({ source: { object: 'Opp__dlm"; DROP TABLE x; --' } }), message: [/source\.object must be an API name, not "Opp__dlm\\"; DROP TABLE x; --"/, API_NAME_RULE], paths: ['source.object'] },
  { name: 'SQL in --source-object (flag)', args: ['--source-object', 'Opp__dlm"; DROP TABLE x; --', ...FLAGS.slice(2)], message: [/source\.object \(from --source-object\) must be an API name/, API_NAME_RULE], paths: ['source.object'] },
  {
    name: 'SQL in a mapped column name (file)',
    def: def({ target: { mapping: { ...MAP, 'Name__c" OR "1"="1': 'Name' } } }),
    message: [/target\.mapping\["Name__c\\" OR \\"1\\"=\\"1"\]: the key "Name__c\\" OR \\"1\\"=\\"1" must be an API name/, API_NAME_RULE],
    paths: ['target.mapping["Name__c\\" OR \\"1\\"=\\"1"]'],
  },
  { name: 'SQL in --mapping (flag)', args: [...FLAGS.slice(0, 8), '--mapping', 'ExternalId__c=External_ID__c,Name__c"; DROP TABLE x; --=Name'], message: [/target\.mapping\["Name__c\\"; DROP TABLE x; --"\] \(from --mapping\): the key "Name__c\\"; DROP TABLE x; --" must be an API name/] },
  { name: 'a quote in --key-column (flag)', args: [...FLAGS.slice(0, 2), '--key-column', "ExternalId__c'", ...FLAGS.slice(4)], message: [/source\.keyColumn \(from --key-column\) must be an API name, not "ExternalId__c'"/] },
  { name: 'a space in source.parentColumn', def: def({ source: { parentColumn: 'Account Id' } }), message: [/source\.parentColumn must be an API name, not "Account Id"/], paths: ['source.parentColumn'] },
  { name: 'a dot in source.columns', def: def({ source: { columns: ['ExternalId__c', 'a.b'] } }), message: [/source\.columns\[1\] must be an API name, not "a\.b"/], paths: ['source.columns[1]'] },
  { name: 'a quote in target.externalIdField', def: def({ target: { externalIdField: 'External_ID__c"' } }), message: [/target\.externalIdField must be an API name, not "External_ID__c\\""/] },
  {
    name: 'SQL in a mapping target',
    def: def({ target: { mapping: { ...MAP, Name__c: 'Name; DELETE' } } }),
    message: [/target\.mapping\.Name__c must be a field API name or Relationship\.Field, not "Name; DELETE"/, /Account\.External_ID__c/],
    paths: ['target.mapping.Name__c'],
  },
  // The filter: trusted, but one predicate.
  { name: 'filter with ";"', def: def({ source: { filter: `"StageName__c" <> 'x'; DROP TABLE x` } }), message: [/source\.filter must be a single predicate: ";" at character 22 would end the statement/], paths: ['source.filter'] },
  { name: 'filter with "--"', def: def({ source: { filter: `"StageName__c" <> 'x' -- and the rest` } }), message: [/"--" at character 23 starts a comment/] },
  { name: 'filter with "/*"', def: def({ source: { filter: `/* hi */ "StageName__c" <> 'x'` } }), message: [/"\/\*" at character 1 starts a comment/] },
  { name: "filter with an unclosed '", def: def({ source: { filter: `"Name__c" = 'O'Brien'` } }), message: [/the text literal opened by ' at character 21 is never closed \(write a quote inside text as ''\)/] },
  { name: 'filter with an unclosed "', def: def({ source: { filter: `"Name__c = 'x'` } }), message: [/the quoted name opened by " at character 1 is never closed/] },
  { name: 'filter with an unclosed (', def: def({ source: { filter: `("Amount__c" > 5` } }), message: [/"\(" at character 1 is never closed/] },
  {
    name: 'filter that closes the parenthesis it is wrapped in',
    def: def({ source: { filter: `"Amount__c" > 5) OR ("Amount__c" < 0` } }),
    message: [/"\)" at character 16 closes a parenthesis that was never opened \(it would close the one the filter is wrapped in\)/],
  },
  { name: 'filter with ";" by flag', args: [...FLAGS, '--filter', '1=1; DROP TABLE x'], message: [/source\.filter \(from --filter\) must be a single predicate: ";" at character 4/] },
  { name: 'a blank filter', def: def({ source: { filter: '   ' } }), message: [/source\.filter must be a Data Cloud SQL predicate, not "   "/] },
  // Types, unknown keys, missing fields.
  { name: 'version as a string', def: def({ top: { version: '1' } }), message: [/version must be the number 1, not the string "1"\./] },
  { name: 'keyColumn as a number', def: def({ source: { keyColumn: 5 } }), message: [/source\.keyColumn must be an API name \(a JSON string\), not the number 5\./] },
  { name: 'a typo in a pacing key', def: def({ pacing: { maxConcurrncy: 5 } }), message: [/pacing\.maxConcurrncy is not a known setting; did you mean pacing\.maxConcurrency\?/], paths: ['pacing.maxConcurrncy'] },
  { name: 'an unknown --profile', def: def(), args: ['--profile', 'fast'], error: '', message: [/Expected --profile=fast to be one of: default, seed/] },
  {
    name: 'no definition and no flags: every missing field with its flag, at once',
    args: [],
    message: [
      /\(from flags\) has 5 problems:/,
      /source\.object is missing: set it in the definition file or pass --source-object/,
      /source\.keyColumn is missing: .* --key-column/,
      /target\.object is missing: .* --target-object/,
      /target\.externalIdField is missing: .* --external-id-field/,
      /target\.mapping is missing: .* --mapping/,
    ],
  },
  { name: 'a malformed --mapping entry', args: [...FLAGS.slice(0, 8), '--mapping', 'ExternalId__c=External_ID__c,Name__c'], message: [/--mapping: the entry "Name__c" is not of the form SourceColumn=TargetField/] },
  { name: 'not JSON', def: '{ "version": 1, }', message: [/is not valid JSON: .*position/] },
  // Semantic checks after the schema.
  {
    name: 'externalIdField "Name": the key column is mapped elsewhere (no org check here)',
    def: def({ target: { externalIdField: 'Name' } }),
    message: [/maps the key column ExternalId__c to External_ID__c, but target\.externalIdField is Name/, /set target\.externalIdField to External_ID__c if that is the External ID field, or map "ExternalId__c": "Name" if Name is/, /plan checks which fields are External IDs against the org/],
  },
  // Pacing ranges.
  {
    name: '--rows-per-job 20000',
    def: def(),
    args: ['--rows-per-job', '20000'],
    message: [/pacing\.rowsPerJob \(from --rows-per-job\) must be "auto" or a whole number from 1 to 10,000, not 20000\. Bulk API 2\.0 cuts every job into internal batches of 10,000 rows/],
  },
  { name: '--max-concurrency 0', def: def(), args: ['--max-concurrency', '0'], message: [/pacing\.maxConcurrency \(from --max-concurrency\) must be a whole number from 1 to 1,000, not 0/] },
  // Everything at once, through start.
  {
    name: 'start: many problems in one error, one line each, in file order',
    command: 'start',
    def: {
      version: '1',
      source: { object: 'Opp__dlm"; DROP TABLE x; --', keyColumn: 5, filter: `"A" = 'b'; DELETE` },
      target: { object: 'Opportunity', externalIdField: 'External_ID__c', mapping: MAP, operation: 'insert' },
      pacing: { maxConcurrncy: 3, rowsPerJob: 20_000 },
    },
    message: [/has 7 problems:\n {2}- version must be the number 1[^\n]*\n {2}- source\.object [^\n]*\n {2}- source\.keyColumn [^\n]*\n {2}- source\.filter [^\n]*\n {2}- target\.operation must be "upsert", not "insert"\. Loads are upserts by external ID[^\n]*\n {2}- pacing\.maxConcurrncy [^\n]*\n {2}- pacing\.rowsPerJob [^\n]*$/],
  },
];

/** Run up to `n` at a time. */
async function pool<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    })
  );
  return out;
}

describe('the load definition through the commands', function () {
  this.timeout(600_000);

  describe('without an org: shape errors first, exit 1, one JSON error with name and actions', () => {
    const runsDir = join(dir, 'runs');
    const results = new Map<string, Cli>();
    before(async () => {
      const runs = await pool(CASES, 4, (c) => {
        const args = ['datacloud', 'load', c.command ?? 'plan', ...(c.def !== undefined ? ['--definition', file(c.def)] : []), ...(c.args ?? []), '--target-org', 'nobody@example.com', '--json'];
        return cli(args, { SF_DATACLOUD_LOAD_DIR: runsDir });
      });
      CASES.forEach((c, i) => results.set(c.name, runs[i]));
    });

    for (const c of CASES) {
      it(c.name, () => {
        const res = results.get(c.name)!;
        const context = `${res.stdout}\n${res.stderr}`;
        expect(res.code, context).to.equal(1);
        expect(res.json, context).to.be.an('object');
        const error = c.error ?? 'InvalidDefinitionError';
        if (error) expect(res.json.name, context).to.equal(error);
        for (const m of c.message) expect(res.json.message, context).to.match(m);
        if (error === 'InvalidDefinitionError') {
          expect(res.json.actions, context).to.be.an('array').that.is.not.empty;
          expect(res.json.actions.join('\n')).to.match(/schemas\/definition\.json/);
          const problems = res.json.data.problems as Array<{ path: string; message: string }>;
          // One line per problem, each starting with its path (or the flag it came from).
          const lines = (res.json.message as string).split('\n').slice(1);
          expect(lines, context).to.have.length(problems.length);
          problems.forEach((p, i) => {
            expect(lines[i]).to.equal(`  - ${p.message}`);
            expect(p.message.startsWith(p.path) || p.path === '(file)' || p.path === '--mapping', p.message).to.equal(true);
          });
          for (const p of c.paths ?? []) expect(problems.map((x) => x.path)).to.include(p);
          // Refused before the org is looked up: no org error is mentioned.
          expect(res.json.message).to.not.match(/nobody@example\.com|authorization/i);
        }
      });
    }

    it('start refused every hostile definition without creating a run directory', () => {
      expect(existsSync(runsDir) ? readdirSync(runsDir) : []).to.deep.equal([]);
    });

    it('a ";" or "--" inside a text literal is part of the literal: the shape passes and the org is looked up next', async () => {
      const res = await cli(['datacloud', 'load', 'plan', '--definition', file(def({ source: { filter: `"Name__c" = 'a;b -- c' AND ("Amount__c" > 0)` } })), '--target-org', 'nobody@example.com', '--json']);
      expect(res.code).to.equal(1);
      expect(res.json.name, res.stdout).to.equal('NamedOrgNotFoundError');
      expect(res.json.message).to.match(/nobody@example\.com/);
    });

    it('with no --target-org and no default org, a valid definition fails on the org (exit 1), an invalid one on the definition', async () => {
      const ok = await cli(['datacloud', 'load', 'plan', '--definition', file(def()), '--json']);
      expect(ok.code).to.equal(1);
      expect(ok.json.name, ok.stdout).to.equal('NoDefaultEnvError');
      const bad = await cli(['datacloud', 'load', 'plan', '--definition', file(def({ pacing: { rowsPerJob: 0 } })), '--json']);
      expect(bad.code).to.equal(1);
      expect(bad.json.name, bad.stdout).to.equal('InvalidDefinitionError');
    });

    it('--rows-per-job 150 is legal but warned about (jobs per million rows, the daily batch allowance)', async () => {
      const res = await cli(['datacloud', 'load', 'plan', '--definition', file(def()), '--rows-per-job', '150', '--target-org', 'nobody@example.com', '--json']);
      expect(res.json.name, res.stdout).to.equal('NamedOrgNotFoundError');
      const said = unwrap(`${(res.json.warnings ?? []).join(' ')} ${res.stderr}`);
      expect(said).to.match(/pacing\.rowsPerJob \(from --rows-per-job\) is 150: about 6,667 Bulk jobs per million rows \(more than 2,000\)/);
      expect(said).to.match(/15,000 Bulk API batches per 24 hours/);
    });

    it('--rows-per-job takes "auto" and refuses what is not a whole number', async () => {
      const auto = await cli(['datacloud', 'load', 'plan', '--definition', file(def({ pacing: { rowsPerJob: 500 } })), '--rows-per-job', 'auto', '--target-org', 'nobody@example.com', '--json']);
      expect(auto.json.name, auto.stdout).to.equal('NamedOrgNotFoundError');
      const bad = await cli(['datacloud', 'load', 'plan', '--definition', file(def()), '--rows-per-job', '1e4', '--target-org', 'nobody@example.com', '--json']);
      expect(bad.code).to.equal(1);
      expect(bad.json.message).to.match(/Expected "auto" or a whole number, not "1e4"/);
    });
  });

  describe('help: every flag states its options and limits', () => {
    for (const command of ['plan', 'start'] as const) {
      it(`${command} --help`, async () => {
        const res = await cli(['datacloud', 'load', command, '--help']);
        expect(res.code, res.stderr).to.equal(0);
        const help = res.stdout.replace(/\s+/g, ' ');
        const flags = help.slice(help.indexOf('FLAGS'), help.indexOf('GLOBAL FLAGS'));
        const descriptions = help.slice(help.indexOf('FLAG DESCRIPTIONS'));
        expect(flags).to.match(/--profile=<option> Pacing profile: default or seed/);
        expect(flags).to.match(/<options: default\|seed>/);
        expect(flags).to.match(/--rows-per-job=auto\|1-10000 Rows per Bulk API job: "auto" or 1 to 10,000/);
        expect(flags).to.match(/--partitions=auto\|1-100000 Number of partitions: "auto" or 1 to 100,000/);
        expect(flags).to.match(/--max-concurrency=1-1000 Most Bulk jobs in flight at once: 1 to 1,000/);
        expect(flags).to.match(/-d, --definition=<value> Load definition: a JSON file, checked against schemas\/definition\.json/);
        expect(descriptions).to.match(/internal batches of 10,000 rows/);
        expect(descriptions).to.match(/500-row jobs, 5 key-range partitions started 1\.5 h apart, 20–30 s between jobs/);
        expect(descriptions).to.match(/README, section "The load definition"/);
        expect(descriptions).to.match(/"\$schema": "[^"]*schemas\/definition\.json"/);
        expect(flags + descriptions).to.not.match(/Test8|\(see README\)/);
        if (command === 'start') expect(flags).to.match(/--runs-dir=<value> Folder that holds the run directories \(default: \$SF_DATACLOUD_LOAD_DIR, else ~\/\.sf\/datacloud-load\/runs\)/);
      });
    }
  });

  describe('with the emulator: nothing is sent to the org before the definition is sound', () => {
    let emu: Emulator;
    let org: OrgHome;
    const ds = generateDataset({ rows: 3_000, parents: 100, seed: 11 });

    before(async () => {
      emu = await startEmulator({ timeScale: 200, ...datasetConfig(ds) });
      org = await loginToEmulator(emu);
    });
    after(async () => emu?.close());

    it('a hostile definition is refused without one request to the org', async () => {
      const before = emu.requests.length;
      const res = await runPlugin(['datacloud', 'load', 'plan', '--target-org', 'emu', '--definition', file(def({ source: { object: 'Opp__dlm"; DROP TABLE x; --', filter: '1=1; DROP TABLE x' } })), '--json'], org);
      expect(res.code).to.equal(1);
      expect(res.json.name).to.equal('InvalidDefinitionError');
      expect(res.json.message).to.match(/has 2 problems/);
      expect(emu.requests.length, JSON.stringify(emu.requests.slice(before))).to.equal(before);
    });

    it('rowsPerJob 150 plans, with the warning', async () => {
      const res = await runPlugin(['datacloud', 'load', 'plan', '--target-org', 'emu', '--definition', file(def({ pacing: { rowsPerJob: 150 } })), '--json'], org);
      expect(res.code, res.stderr).to.equal(0);
      expect(res.json.result.plan.rowsPerJob).to.equal(150);
      expect(unwrap(`${(res.json.warnings ?? []).join(' ')} ${res.stderr}`)).to.match(/pacing\.rowsPerJob is 150: about 6,667 Bulk jobs per million rows/);
    });

    it('a definition with a "$schema" line and a filter plans', async () => {
      const res = await runPlugin(['datacloud', 'load', 'plan', '--target-org', 'emu', '--definition', file({ $schema: './node_modules/@datacloud/plugin-datacloud-load/schemas/definition.json', ...def({ source: { filter: `"StageName__c" <> 'Deleted'` } }) }), '--json'], org);
      expect(res.code, res.stdout + res.stderr).to.equal(0);
      expect(res.json.result.definition.source.filter).to.equal(`"StageName__c" <> 'Deleted'`);
    });
  });
});
