/*
 * The definition check as a pure function (checkDefinition / resolveDefinition): the cases
 * not run through the commands in test/commands/definition.test.ts, the filter scanner, the
 * nearest-name suggestions, warnings, and that the schema, the profiles, the README example
 * and the sample definitions agree.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkDefinition, filterProblems, jobCountWarning, resolveDefinition, definitionSchemaPath, type DefinitionOverrides } from '../../src/engine/definition.js';
import { definitionSchema, nearest } from '../../src/engine/definition-schema.js';
import { PROFILES, profileNames } from '../../src/engine/profiles.js';
import { LoadError } from '../../src/engine/errors.js';
import { opportunityDefinition } from '../emulator/dataset.js';
import { ROOT } from '../helpers/plugin.js';
import { TEST_PACING } from '../helpers/runs.js';

type Def = { version?: unknown; source?: Record<string, unknown>; target?: Record<string, unknown>; pacing?: Record<string, unknown>; [k: string]: unknown };

function def(patch: { source?: Record<string, unknown>; target?: Record<string, unknown>; pacing?: Record<string, unknown>; top?: Record<string, unknown> } = {}): Def {
  const base = opportunityDefinition('ExtOpportunities__dlm') as Def;
  const d: Def = { ...base, ...patch.top, source: { ...base.source, ...patch.source }, target: { ...base.target, ...patch.target }, pacing: { ...base.pacing, ...patch.pacing } };
  return JSON.parse(JSON.stringify(d)) as Def; // drops undefined, as a file would
}

const MAP = { ExternalId__c: 'External_ID__c' };

type Case = { name: string; def: unknown; message: RegExp[] };

const CASES: Case[] = [
  { name: 'a three-part mapping target', def: def({ target: { mapping: { ...MAP, Owner__c: 'Account.Owner.Email' } } }), message: [/target\.mapping\.Owner__c must be a field API name or Relationship\.Field/] },
  { name: 'version 2', def: def({ top: { version: 2 } }), message: [/version must be the number 1, not 2\. This plugin reads version 1/] },
  { name: 'no version', def: (({ version: _v, ...rest }) => rest)(def()), message: [/version is missing: add "version": 1\./] },
  { name: 'a typo in a source key', def: def({ source: { filtr: `"A" = 1` } }), message: [/source\.filtr is not a known setting; did you mean source\.filter\?/] },
  { name: 'a setting in the wrong section', def: def({ top: { rowsPerJob: 500 } }), message: [/rowsPerJob is not a known setting here; did you mean pacing\.rowsPerJob\?/] },
  { name: 'an unknown profile in the file', def: def({ pacing: { profile: 'fast' } }), message: [/pacing\.profile must be "default" or "seed", not "fast"/] },
  { name: 'target.object missing', def: def({ target: { object: undefined } }), message: [/target\.object is missing: set it in the definition file or pass --target-object\./] },
  { name: 'a JSON array', def: [1, 2], message: [/must be a JSON object, not \[1,2\]/] },
  { name: 'the key column not mapped', def: def({ target: { mapping: { Name__c: 'Name' } } }), message: [/target\.mapping does not map the key column ExternalId__c .* add "ExternalId__c": "External_ID__c"/] },
  { name: 'two columns to one field', def: def({ target: { mapping: { ...MAP, Name__c: 'Name', StageName__c: 'name' } } }), message: [/maps both Name__c and StageName__c to Name; a target field takes one source column/] },
  { name: 'an empty mapping', def: def({ target: { mapping: {} } }), message: [/target\.mapping must be an object of source column → target field, with at least one entry, not \{\}/] },
  { name: 'delaySeconds out of order', def: def({ pacing: { delaySeconds: [30, 20] } }), message: [/pacing\.delaySeconds must be \[min, max\] with min ≤ max, not \[30,20\]/] },
  { name: 'rowsPerJob 20000 in the file', def: def({ pacing: { rowsPerJob: 20_000 } }), message: [/pacing\.rowsPerJob must be "auto" or a whole number from 1 to 10,000, not 20000\..*internal batches/] },
  { name: 'rowsPerJob as a string', def: def({ pacing: { rowsPerJob: '10k' } }), message: [/pacing\.rowsPerJob must be "auto" or a whole number from 1 to 10,000, not "10k"/] },
  { name: 'partitions 2.5', def: def({ pacing: { partitions: 2.5 } }), message: [/pacing\.partitions must be "auto" or a whole number from 1 to 100,000, not 2\.5/] },
  { name: 'a negative retry delay', def: def({ pacing: { retryDelaysSeconds: [5, -1] } }), message: [/pacing\.retryDelaysSeconds\[1\] must be a number of seconds, 0 or more, not -1/] },
  { name: 'pollSeconds of zero', def: def({ pacing: { pollSeconds: [0, 10] } }), message: [/pacing\.pollSeconds\[0\] must be a number of seconds above 0, not 0/] },
];

const problemsOf = (raw: unknown, o: DefinitionOverrides = {}): string => checkDefinition(raw, o).problems.map((p) => p.message).join('\n');

describe('engine: the definition check', () => {
  describe('problems', () => {
    for (const c of CASES) {
      it(c.name, () => {
        const text = problemsOf(c.def);
        for (const m of c.message) expect(text).to.match(m);
      });
    }

    it('resolveDefinition throws one LoadError InvalidDefinition with every problem in data.problems', () => {
      let err: unknown;
      try {
        resolveDefinition(def({ top: { version: '1' }, pacing: { maxConcurrncy: 2, rowsPerJob: 0 } }), {}, { file: 'x.json' });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(LoadError);
      const e = err as LoadError;
      expect(e.code).to.equal('InvalidDefinition');
      expect(e.message.split('\n')[0]).to.equal('The load definition x.json has 3 problems:');
      expect((e.data?.problems as Array<{ path: string }>).map((p) => p.path)).to.deep.equal(['version', 'pacing.maxConcurrncy', 'pacing.rowsPerJob']);
      expect(e.actions.join('\n')).to.contain(definitionSchemaPath());
    });

    it('flags override the file before the check: a wrong file value replaced by a flag is no problem', () => {
      const c = checkDefinition(def({ source: { keyColumn: 5 }, pacing: { rowsPerJob: 20_000 } }), { keyColumn: 'ExternalId__c', rowsPerJob: 5_000 });
      expect(c.problems).to.deep.equal([]);
      expect(c.definition!.pacing.rowsPerJob).to.equal(5_000);
    });

    it('names the flag a wrong value came from', () => {
      expect(problemsOf(def(), { maxConcurrency: 0 })).to.match(/^pacing\.maxConcurrency \(from --max-concurrency\) must be a whole number from 1 to 1,000, not 0\.$/);
    });
  });

  describe('resolveDefinition(raw, overrides, opts) → { definition, warnings }', () => {
    it('completes the definition from the profile and flags', () => {
      const { definition, warnings } = resolveDefinition(def({ pacing: { profile: 'seed', delaySeconds: [1, 2] } }), { maxConcurrency: 7 });
      expect(warnings).to.deep.equal([]);
      expect(definition.target.operation).to.equal('upsert');
      expect(definition.pacing).to.deep.equal({ ...PROFILES.seed, delaySeconds: [1, 2], maxConcurrency: 7 });
    });

    it('warns below 500 rows per job (more than 2,000 jobs per million rows), not at 500 or auto', () => {
      expect(resolveDefinition(def({ pacing: { rowsPerJob: 499 } })).warnings.join()).to.match(/pacing\.rowsPerJob is 499: about 2,005 Bulk jobs per million rows/);
      expect(resolveDefinition(def({ pacing: { rowsPerJob: 500 } })).warnings).to.deep.equal([]);
      expect(resolveDefinition(def({ pacing: { rowsPerJob: 'auto' } })).warnings).to.deep.equal([]);
      expect(resolveDefinition(def(), { profile: 'seed' }).warnings).to.deep.equal([]);
    });

    it('warns when jobs of one parent partition may run at once', () => {
      expect(resolveDefinition(def({ pacing: { profile: 'seed', partitionBy: 'parent' } })).warnings.join()).to.match(/jobsInFlightPerPartition is 1000 with partitionBy "parent"/);
    });

    it('jobCountWarning: for the planner, above 2,000 jobs per million rows', () => {
      expect(jobCountWarning(235_000, 1_571)).to.match(/1,571 Bulk jobs for 235,000 rows \(6,685 per million/);
      expect(jobCountWarning(1_000_000, 2_000)).to.equal(undefined);
    });
  });

  describe('filterProblems: one predicate', () => {
    for (const ok of [
      `"StageName__c" <> 'Deleted'`,
      `"Name__c" = 'O''Brien'`,
      `"we""ird" = 1`,
      `"Name__c" = 'a;b -- c /* d */'`,
      `("A" IN ('x', 'y') AND ("B" > 1 OR "C" IS NULL))`,
      `"Amount__c" - 1 > 0`,
    ]) {
      it(`accepts ${ok}`, () => expect(filterProblems(ok)).to.deep.equal([]));
    }
    it('lists every reason at once', () => {
      expect(filterProblems(`(a; b -- c`)).to.have.length(3);
    });
  });

  describe('nearest', () => {
    const pacing = Object.keys(PROFILES.default);
    it('finds typos, other cases and prefixes', () => {
      expect(nearest('maxConcurrncy', pacing)).to.equal('maxConcurrency');
      expect(nearest('rowsperjob', pacing)).to.equal('rowsPerJob');
      expect(nearest('delay', pacing)).to.equal('delaySeconds');
      expect(nearest('partiton', pacing)).to.equal('partitions');
    });
    it('suggests nothing far off', () => {
      expect(nearest('color', pacing)).to.equal(undefined);
    });
  });

  describe('the schema, the code and the docs agree', () => {
    const schema = definitionSchema() as { definitions: Record<string, { properties: Record<string, { enum?: string[] }> }> };

    it('the schema lists exactly the pacing settings of the profiles, and the profile names', () => {
      const pacing = schema.definitions.Pacing.properties;
      expect(Object.keys(pacing).sort()).to.deep.equal(Object.keys(PROFILES.default).sort());
      expect(pacing.profile.enum).to.deep.equal(profileNames());
    });

    for (const name of profileNames()) {
      it(`every value of the ${name} profile passes the schema`, () => {
        expect(checkDefinition(def({ pacing: { ...PROFILES[name] } })).problems).to.deep.equal([]);
      });
    }

    it('the README example passes, and so do the sample definition and the test pacing', () => {
      const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
      const section = readme.slice(readme.indexOf('## The load definition'));
      const block = /```json\n([\s\S]*?)\n```/.exec(section)?.[1];
      expect(block, 'a json block in the README definition section').to.be.a('string');
      const readmeDef = JSON.parse(block!) as Record<string, unknown>;
      expect(readmeDef.$schema).to.be.a('string');
      expect(checkDefinition(readmeDef).problems).to.deep.equal([]);
      expect(checkDefinition(opportunityDefinition()).problems).to.deep.equal([]);
      expect(checkDefinition(def({ pacing: { ...TEST_PACING } })).problems).to.deep.equal([]);
    });

    it('schemas/definition.json is a draft-07 schema with an $id, in the package files', () => {
      const s = definitionSchema() as { $schema: string; $id: string };
      expect(s.$schema).to.equal('http://json-schema.org/draft-07/schema#');
      expect(s.$id).to.match(/definition\.json$/);
      const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[]; dependencies: Record<string, string> };
      expect(pkg.files).to.include('/schemas');
      expect(pkg.dependencies).to.have.property('ajv');
    });
  });
});
