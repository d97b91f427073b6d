/*
 * Run the emulator by hand with a seeded dataset:
 *
 *   npm run emulator -- --port 4567 --rows 10000 --parents 500 --seed 1 --time-scale 1
 *   node --import tsx test/emulator/cli.ts --help
 *
 * Prints the instance URL, the access token and the `sf org login access-token` line.
 * Ctrl-C stops it.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ConfigPatch } from './config.js';
import { datasetConfig, datasetSummary, generateDataset, seedParents } from './dataset.js';
import { startEmulator } from './server.js';

const HELP = `Usage: node --import tsx test/emulator/cli.ts [options]

  --port N            port on 127.0.0.1 (default 4567; 0 = any free port)
  --rows N            Data Cloud rows in ExtOpportunities__dlm (default 10000)
  --parents N         distinct parents (Accounts) (default 500)
  --seed N            seed of the dataset and the emulator (default 1)
  --time-scale X      virtual seconds per wall second (default 1)
  --hot-parents N     "house" parents (default 1)
  --hot-share X       share of all rows held by each house parent (default 0.01)
  --no-skew           children spread as evenly as possible
  --sorted            keys follow parent order (default: shuffled, as in a real org)
  --extra-columns N   0-3 more columns: Description__c, Probability__c, LeadSource__c (default 0)
  --case-sensitive-ids  declare the External ID fields case sensitive (default: insensitive)
  --seed-accounts     put the parent Accounts into the target store
  --config FILE       a JSON ConfigPatch applied on top (faults, dataCloud switches, bulk rules)
  --alias NAME        alias used in the printed login line (default emu)
  -h, --help          this text
`;

function num(v: string | undefined, name: string, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n)) {
    process.stderr.write(`--${name}: not a number: ${v}\n`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      rows: { type: 'string' },
      parents: { type: 'string' },
      seed: { type: 'string' },
      'time-scale': { type: 'string' },
      'hot-parents': { type: 'string' },
      'hot-share': { type: 'string' },
      'no-skew': { type: 'boolean', default: false },
      sorted: { type: 'boolean', default: false },
      'extra-columns': { type: 'string' },
      'case-sensitive-ids': { type: 'boolean', default: false },
      'seed-accounts': { type: 'boolean', default: false },
      config: { type: 'string' },
      alias: { type: 'string', default: 'emu' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const seed = num(values.seed, 'seed', 1);
  const t0 = Date.now();
  const ds = generateDataset({
    rows: num(values.rows, 'rows', 10_000),
    parents: num(values.parents, 'parents', 500),
    seed,
    skew: values['no-skew'] ? false : { hotParents: num(values['hot-parents'], 'hot-parents', 1), hotShare: num(values['hot-share'], 'hot-share', 0.01) },
    shuffle: !values.sorted,
    extraColumns: num(values['extra-columns'], 'extra-columns', 0),
    caseSensitiveExternalIds: values['case-sensitive-ids'],
  });
  const extra: ConfigPatch = values.config ? (JSON.parse(readFileSync(values.config, 'utf8')) as ConfigPatch) : {};
  const emu = await startEmulator({
    ...extra,
    seed,
    timeScale: num(values['time-scale'], 'time-scale', extra.timeScale ?? 1),
    ...datasetConfig(ds),
    dataCloud: { ...extra.dataCloud, tables: { ...(extra.dataCloud?.tables ?? {}), [ds.table.name]: ds.table } },
    port: num(values.port, 'port', 4567),
  });
  if (values['seed-accounts']) seedParents(emu, ds);
  const sum = datasetSummary(ds);
  const token = emu.token;
  const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;
  const lines = [
    `Salesforce emulator listening on ${emu.url}`,
    `  dataset   ${ds.table.name}: ${sum.rows} rows, ${sum.parents} parents (median ${sum.medianChildren}, max ${sum.maxChildren} children${
      sum.hotParents.length ? `; house: ${sum.hotParents.map((h) => `${h.key}=${h.rows}`).join(', ')}` : ''
    }), ${ds.table.columns.length} columns, ${ds.options.shuffle ? 'shuffled' : 'sorted by parent'}, seed ${seed}, generated in ${Date.now() - t0} ms`,
    `  target    ${Object.keys(ds.sobjects).join(', ')} (external id External_ID__c)`,
    `  time      ${emu.clock.scale}x`,
    `  url       ${emu.url}`,
    `  token     ${token}`,
    `  inspect   ${emu.url}/__emulator/jobs, /__emulator/target/Opportunity, /__emulator/requests, /__emulator/limits`,
    '',
    'Log in with the sf CLI:',
    '',
    `  SF_ACCESS_TOKEN=${q(token)} sf org login access-token --instance-url ${emu.url} --alias ${values.alias} --no-prompt`,
    '',
    'Press Ctrl-C to stop.',
    '',
  ];
  process.stdout.write(lines.join('\n'));

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) process.exit(1);
    stopping = true;
    process.stdout.write(`\n${signal}: stopping the emulator (${emu.requests.length} requests served).\n`);
    void emu.close().then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
