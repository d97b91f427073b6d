/*
 * `npm run demo`: the main job on an embedded default. Starts the loopback emulator with
 * a sample dataset (Opportunities under skewed Accounts), then runs a whole load through
 * the plugin's own commands (plan, start, status, report) and prints the report.
 * Options: --rows N (default 50000), --parents N (2000), --time-scale N (100), --keep (leave the emulator up).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startEmulator } from '../test/emulator/server.js';
import { generateDataset, datasetConfig, opportunityDefinition } from '../test/emulator/dataset.js';
import { loginToEmulator, ROOT, type OrgHome } from '../test/helpers/plugin.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '50000' },
    parents: { type: 'string', default: '2000' },
    'time-scale': { type: 'string', default: '100' },
    keep: { type: 'boolean', default: false },
  },
});

/** Run the plugin as `sf` would run it once linked (`sf plugins link .`): bin/run.js is its own CLI entry. */
function sf(org: OrgHome, args: string[]): Promise<number | null> {
  console.log(`\n$ ./bin/run.js ${args.join(' ')}        # = sf ${args.join(' ')}, with the plugin linked`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/run.js'), ...args], { env: { ...org.env, CI: '' }, stdio: 'inherit' });
    child.on('close', resolve);
  });
}

const rows = Number(values.rows);
const ds = generateDataset({ rows, parents: Number(values.parents), seed: 2026, shuffle: true, skew: { hotParents: 2, hotShare: 0.05 } });
const emu = await startEmulator({
  timeScale: Number(values['time-scale']),
  ...datasetConfig(ds),
  bulk: { rowRules: [{ name: 'demo-validation-rule', code: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: 'Close Date must be in the future', fields: ['CloseDate'], rate: 0.002 }] },
});
console.log(`Emulator on ${emu.url}: ${rows.toLocaleString('en-US')} rows in ExtOpportunities__dlm, ${values.parents} parent Accounts (time ×${values['time-scale']}).`);
const org = await loginToEmulator(emu);
const definition = join(org.home, 'opportunities.json');
writeFileSync(
  definition,
  JSON.stringify({ ...opportunityDefinition('ExtOpportunities__dlm', { profile: 'default', pollSeconds: [0.1, 1] }), name: 'demo: Data Cloud opportunities → Opportunity' }, null, 2)
);
console.log(`Definition: ${definition}`);
let code = await sf(org, ['datacloud', 'load', 'plan', '-o', 'emu', '--definition', definition]);
if (code === 0) code = await sf(org, ['datacloud', 'load', 'start', '-o', 'emu', '--definition', definition]);
await sf(org, ['datacloud', 'load', 'status']);
await sf(org, ['datacloud', 'load', 'report']);
const t = emu.target.summary('Opportunity');
console.log(`\nThe emulator's Opportunity table now holds ${t.rows.toLocaleString('en-US')} rows (${t.writes.toLocaleString('en-US')} writes).`);
console.log(`Run files: ${org.runsDir}`);
if (values.keep) {
  console.log(`Emulator still up on ${emu.url}; Ctrl-C to stop. Try: HOME=${org.home} SF_DATACLOUD_LOAD_DIR=${org.runsDir} ./bin/run.js datacloud load report --format markdown`);
} else {
  await emu.close();
}
// The demo's exit code is start's: 2 says the load finished with rows not loaded (the demo's
// validation rule rejects about 0.2 % of them; "retry-failures" would send them again).
if (code === 2) console.log('\nstart exited 2: the load finished, and the rows the validation rule rejected are listed as failed (see the report above).');
process.exitCode = code ?? 1;
