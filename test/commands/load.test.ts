/*
 * The engine end to end, through the plugin's own commands (`node bin/run.js datacloud
 * load …`) against the emulator over HTTP: plan, start, short pages, and the errors a user
 * meets first. Kills and resumes are test/crash/crash-suite.test.ts (kills at positions in
 * the run's own progress, not at moments of wall time).
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Ajv } from 'ajv';
import { startEmulator, type Emulator } from '../emulator/server.js';
import { generateDataset, datasetConfig, opportunityDefinition } from '../emulator/dataset.js';
import { loginToEmulator, runPlugin, ROOT, type OrgHome } from '../helpers/plugin.js';
import { RunDir } from '../../src/state/run-dir.js';
import type { JobLogRecord } from '../../src/state/types.js';
import type { FailedRow } from '../../src/engine/failures-retry.js';
import { failedNow, fold, jobLog as readJobLog } from '../helpers/ledger.js';

const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$/);
const planSchema = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'schemas/plan.json'), 'utf8')));
const startSchema = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'schemas/start.json'), 'utf8')));

const VALIDATION = { name: 'amount-check', code: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: 'Amount must be reviewed', rate: 0.01 };
const LOCKS = { name: 'other-traffic-locks', code: 'UNABLE_TO_LOCK_ROW', message: 'unable to obtain exclusive access to this record or 1 records: 001000000000001AAA', rate: 0.03, perAttempt: true };

function writeDefinition(org: OrgHome, name: string, pacing: Record<string, unknown> = {}): string {
  const file = join(org.home, `${name}.json`);
  writeFileSync(file, JSON.stringify({ ...opportunityDefinition('ExtOpportunities__dlm', { pollSeconds: [0.05, 0.3], retryDelaysSeconds: [0.1, 0.2, 0.4, 0.8], ...pacing }), name }));
  return file;
}

function jobLog(runDir: string): JobLogRecord[] {
  return readJobLog(new RunDir(runDir, basename(runDir)));
}

function currentFailures(runDir: string): FailedRow[] {
  return failedNow(new RunDir(runDir, basename(runDir)));
}

describe('sf datacloud load plan/start against the emulator', function () {
  this.timeout(600_000);
  let emu: Emulator;
  let org: OrgHome;
  const ds = generateDataset({ rows: 100_000, parents: 4_000, seed: 7, shuffle: true, skew: { hotParents: 2, hotShare: 0.15 } });

  before(async () => {
    emu = await startEmulator({ timeScale: 200, ...datasetConfig(ds) });
    org = await loginToEmulator(emu);
  });
  after(async () => emu?.close());

  it('plan --json validates against the org, cuts partitions by parent, warns of skew, and matches its schema', async () => {
    const def = writeDefinition(org, 'plan', { partitions: 3 });
    const res = await runPlugin(['datacloud', 'load', 'plan', '--target-org', 'emu', '--definition', def, '--json'], org);
    expect(res.code, res.stderr).to.equal(0);
    expect(planSchema(res.json.result), JSON.stringify(planSchema.errors)).to.equal(true);
    const plan = res.json.result.plan;
    expect(plan.totalRows).to.equal(100_000);
    expect(plan.partitions).to.have.length(3);
    expect(plan.partitions.reduce((n: number, p: { rows: number }) => n + p.rows, 0)).to.equal(100_000);
    expect(plan.keyColumns).to.deep.equal(['AccountExternalId__c', 'ExternalId__c']);
    expect(plan.skewedParents.length).to.be.greaterThan(0);
    expect(plan.warnings.join(' ')).to.match(/more than 10,000 children/);
    // Partition bounds are parent values: no parent's rows fall in two partitions.
    const bounds = plan.partitions.map((p: { upperInclusive: string | null }) => p.upperInclusive).filter(Boolean);
    for (const b of bounds) expect(ds.parents).to.include(b);
  });

  it('loads 100k rows over 3 partitions with lock errors and a 1% validation rule: every row accounted for', async () => {
    emu.target.clear();
    emu.configure({ bulk: { rowRules: [VALIDATION, LOCKS] } });
    const def = writeDefinition(org, 'full', { partitions: 3 });
    const res = await runPlugin(['datacloud', 'load', 'start', '--target-org', 'emu', '--definition', def, '--json'], org);
    expect(startSchema(res.json?.result), `${JSON.stringify(startSchema.errors)}\n${res.stderr.slice(-3000)}`).to.equal(true);
    const r = res.json.result;
    expect(r.state).to.equal('completed');
    expect(res.code).to.equal(2); // completed with failed rows
    expect(r.totals.loaded + r.totals.failed).to.equal(100_000);
    expect(r.totals.retriedRows).to.be.greaterThan(0);

    // Every rejected row is in the failure file with its code and message; no lock error is left.
    const failures = currentFailures(r.runDir);
    expect(failures).to.have.length(r.totals.failed);
    expect(new Set(failures.map((f) => f.code))).to.deep.equal(new Set(['FIELD_CUSTOM_VALIDATION_EXCEPTION']));
    for (const f of failures) {
      expect(f.message).to.equal('Amount must be reviewed');
      expect(f.row.External_ID__c).to.equal(f.key);
    }
    // The emulator holds exactly the loaded rows.
    const summary = emu.target.summary('Opportunity');
    expect(summary.rows).to.equal(r.totals.loaded);
    const failed = new Set(failures.map((f) => String(f.key)));
    for (const row of ds.table.rows) {
      const key = String(row.ExternalId__c);
      expect(Boolean(emu.target.get('Opportunity', key)), key).to.equal(!failed.has(key));
    }
    // One result per job; lock errors were seen (counted in lockErrors: errorCodes holds final failures only)
    // and their rows went into retry jobs (retrySeq → a planned retry of that seq, one attempt further), each with its result.
    const log = jobLog(r.runDir);
    const results = log.filter((x): x is Extract<JobLogRecord, { t: 'result' }> => x.t === 'result');
    const planned = new Map(log.filter((x): x is Extract<JobLogRecord, { t: 'planned' }> => x.t === 'planned').map((x) => [x.seq, x]));
    expect(new Set(results.map((x) => x.seq)).size).to.equal(results.length);
    expect(results.every((x) => (x.errorCodes.UNABLE_TO_LOCK_ROW ?? 0) === 0)).to.equal(true);
    const locked = results.filter((x) => x.lockErrors > 0);
    expect(locked.length).to.be.greaterThan(0);
    expect(r.totals.lockErrors).to.equal(results.reduce((n, x) => n + x.lockErrors, 0));
    expect(r.totals.retriedRows).to.equal(results.reduce((n, x) => n + x.requeued, 0));
    const resulted = new Set(results.map((x) => x.seq));
    for (const x of results.filter((y) => y.requeued > 0)) {
      const retry = planned.get(x.retrySeq!);
      expect(retry, `retry job of ${x.seq}`).to.include({ kind: 'retry', retryOf: x.seq, rows: x.requeued, attempt: planned.get(x.seq)!.attempt + 1 });
      expect(resulted.has(retry!.seq), `retry job ${retry!.seq} has a result`).to.equal(true);
    }
    expect(r.totals).to.include({ read: 100_000, unread: 0, pending: 0 });
    expect(fold(new RunDir(r.runDir, basename(r.runDir))).problems()).to.deep.equal([]);
  });

  it('reads all 30,001 rows when the query API returns random short pages', async () => {
    const small = generateDataset({ rows: 30_001, parents: 900, seed: 11, shuffle: true, tableName: 'ShortPages__dlm' });
    emu.configure({ ...datasetConfig(small), dataCloud: { ...datasetConfig(small).dataCloud, shortPageRate: 0.5, maxRowLimit: 3_000, runningPolls: 1 }, bulk: { rowRules: [] } });
    emu.target.clear();
    const file = writeDefinition(org, 'short', { rowsPerJob: 7_000 });
    const def = JSON.parse(readFileSync(file, 'utf8'));
    def.source.object = 'ShortPages__dlm';
    writeFileSync(file, JSON.stringify(def));
    const res = await runPlugin(['datacloud', 'load', 'start', '--target-org', 'emu', '--definition', file, '--json'], org);
    expect(res.code, res.stderr.slice(-3000)).to.equal(0);
    expect(res.json.result.totals.loaded).to.equal(30_001);
    expect(emu.target.summary('Opportunity').rows).to.equal(30_001);
    emu.configure({ dataCloud: { shortPageRate: 0, maxRowLimit: 50_000, runningPolls: 0 } });
  });

  describe('errors name the problem and the fix', () => {
    const cases: Array<{ name: string; args: (org: OrgHome) => string[]; error: RegExp; code: string }> = [
      {
        name: 'an unknown target object',
        args: () => ['--source-object', 'ExtOpportunities__dlm', '--key-column', 'ExternalId__c', '--target-object', 'Opportunityy', '--external-id-field', 'External_ID__c', '--mapping', 'ExternalId__c=External_ID__c'],
        error: /no sObject named Opportunityy/,
        code: 'UnknownTargetObject',
      },
      {
        name: 'an unknown target field',
        args: () => ['--source-object', 'ExtOpportunities__dlm', '--key-column', 'ExternalId__c', '--target-object', 'Opportunity', '--external-id-field', 'External_ID__c', '--mapping', 'ExternalId__c=External_ID__c,Name__c=Nmae'],
        error: /Opportunity has no field Nmae/,
        code: 'UnknownTargetField',
      },
      {
        name: 'a source without the key column',
        args: () => ['--source-object', 'ExtOpportunities__dlm', '--key-column', 'NoSuchKey__c', '--target-object', 'Opportunity', '--external-id-field', 'External_ID__c', '--mapping', 'NoSuchKey__c=External_ID__c'],
        error: /NoSuchKey__c/,
        code: 'SourceQueryRejected',
      },
      {
        name: 'an empty source',
        args: () => ['--source-object', 'ExtOpportunities__dlm', '--key-column', 'ExternalId__c', '--filter', `"ExternalId__c" = 'O''Brien'`, '--target-object', 'Opportunity', '--external-id-field', 'External_ID__c', '--mapping', 'ExternalId__c=External_ID__c'],
        error: /nothing to load/,
        code: 'EmptySource',
      },
      { name: 'a missing definition', args: () => ['--definition', '/nonexistent/def.json'], error: /def\.json/, code: '' },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const res = await runPlugin(['datacloud', 'load', 'plan', '--target-org', 'emu', ...c.args(org), '--json'], org);
        expect(res.code).to.equal(1);
        expect(res.json?.message ?? res.stderr, res.stdout + res.stderr).to.match(c.error);
        if (c.code) {
          expect(res.json.name).to.equal(`${c.code}Error`);
          expect(res.json.actions?.length ?? 0).to.be.greaterThan(0);
        }
        expect(res.stdout + res.stderr).to.not.contain(emu.token);
      });
    }

    it('a missing org', async () => {
      const res = await runPlugin(['datacloud', 'load', 'plan', '--target-org', 'nobody@example.com', '--source-object', 'X__dlm', '--key-column', 'K__c', '--target-object', 'Opportunity', '--external-id-field', 'External_ID__c', '--mapping', 'K__c=External_ID__c', '--json'], org);
      expect(res.code).to.equal(1);
      expect(res.json.message).to.match(/nobody@example\.com/);
    });

    it('Data Cloud not provisioned', async () => {
      emu.configure({ dataCloud: { provisioned: false } });
      try {
        const res = await runPlugin(['datacloud', 'load', 'plan', '--target-org', 'emu', '--definition', writeDefinition(org, 'np'), '--json'], org);
        expect(res.code).to.equal(1);
        expect(res.json.name).to.equal('DataCloudNotProvisionedError');
        expect(res.json.message).to.match(/CDP tenant ID/);
      } finally {
        emu.configure({ dataCloud: { provisioned: true } });
      }
    });
  });
});
