/*
 * Fidelity: the REAL Salesforce CLI (pinned in test/fidelity/sf-cli/package.json) against the
 * emulator. Nobody here wrote `sf org login access-token`, `sf org display` or
 * `sf plugins link`; if the emulator's login/org endpoints drift from what Salesforce serves,
 * or this plugin stops loading in the real CLI, these tests fail.
 *
 * Needs `npm ci --prefix test/fidelity/sf-cli` (.ci/run does it). Without the CLI the suite
 * FAILS with that hint; set SKIP_SF_CLI=1 to skip it on purpose.
 *
 * Timings on the dev machine: each sf spawn 1-3 s; `sf plugins link . --no-install` ~2.5 s
 * (no npm install: it only records the path in $HOME/.local/share/sf/package.json).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { startEmulator, type Emulator } from '../emulator/server.js';
import {
  describeSf,
  makeSfHome,
  removeSfHome,
  ROOT,
  runSf,
  SF_BIN,
  SF_CLI_INSTALL_HINT,
  sfCliInstalled,
  sfCliVersion,
} from '../helpers/sf-cli.js';

const PINNED = (JSON.parse(readFileSync(join(ROOT, 'test/fidelity/sf-cli/package.json'), 'utf8')) as { dependencies: Record<string, string> })
  .dependencies['@salesforce/cli'];

/** Commands this plugin documents under `sf datacloud load` (package.json oclif topic). */
const LOAD_COMMANDS = ['plan', 'start', 'resume', 'status', 'report', 'retry-failures', 'cancel'];

describe('fidelity: real sf CLI against the emulator', function () {
  this.timeout(120_000);
  const homes: string[] = [];
  const home = (): string => {
    const h = makeSfHome();
    homes.push(h);
    return h;
  };

  before(function () {
    if (process.env.SKIP_SF_CLI === '1') {
      console.log(`      SKIPPED: real-sf-CLI fidelity tests (SKIP_SF_CLI=1). Install the CLI with \`${SF_CLI_INSTALL_HINT}\` and unset SKIP_SF_CLI to run them.`);
      this.skip();
    }
    if (!sfCliInstalled()) {
      throw new Error(
        `The pinned sf CLI (@salesforce/cli ${PINNED}) is not installed: ${SF_BIN} is missing.\n` +
          `Install it with:  ${SF_CLI_INSTALL_HINT}   (.ci/run does this), or set SKIP_SF_CLI=1 to skip these tests.`
      );
    }
    expect(sfCliVersion(), 'installed @salesforce/cli version must be the pinned one; re-run ' + SF_CLI_INSTALL_HINT).to.equal(PINNED);
  });

  after(() => {
    for (const h of homes) removeSfHome(h);
  });

  describe('org login access-token / org display', () => {
    let emu: Emulator;
    before(async () => {
      emu = await startEmulator();
    });
    after(async () => {
      await emu?.close();
    });

    it('logs in with SF_ACCESS_TOKEN and --instance-url, and org display shows the emulator org', async () => {
      const h = home();
      const login = ['org', 'login', 'access-token', '--instance-url', emu.url, '--no-prompt', '--alias', 'emu', '--json'];
      const r = await runSf(login, { home: h, env: { SF_ACCESS_TOKEN: emu.token } });
      expect(r.code, describeSf(login, r)).to.equal(0);
      expect(r.json?.status, describeSf(login, r)).to.equal(0);
      const a = emu.config.auth;
      expect(r.json.result.username).to.equal(a.username);
      expect(r.json.result.orgId).to.equal(a.orgId);
      // sf stores --instance-url as URL.href, i.e. with a trailing slash (salesforce-api.md §5.1).
      expect(r.json.result.instanceUrl.replace(/\/$/, '')).to.equal(emu.url);
      // D: max of the emulator's version list, E: Organization fields.
      expect(r.json.result.instanceApiVersion).to.equal(emu.config.apiVersions.at(-1));
      expect(r.json.result.isDevHub).to.equal(false);
      expect(r.json.result.name).to.be.a('string').and.not.empty;
      expect(r.json.result.orgEdition).to.be.a('string').and.not.empty;

      // The exact sequence of salesforce-api.md §5.2 reached the emulator...
      const seen = emu.requests.map((q) => `${q.method} ${q.path} ${q.status}`);
      expect(seen).to.include('GET /services/oauth2/userinfo 200');
      expect(seen).to.include(`GET /services/data/v51.0/sobjects/User/${a.userId} 200`);
      expect(seen).to.include('GET /services/data/v51.0/query 400'); // ScratchOrgInfo ⇒ not a Dev Hub
      expect(seen).to.include('GET /services/data 200');
      // ...and the real CLI asked for nothing the emulator doesn't serve.
      const unrouted = emu.requests.filter((q) => q.status === 404 || q.status >= 500);
      expect(unrouted, 'requests the emulator could not answer').to.deep.equal([]);

      const display = ['org', 'display', '--target-org', 'emu', '--json'];
      const d = await runSf(display, { home: h });
      expect(d.code, describeSf(display, d)).to.equal(0);
      expect(d.json.result.username).to.equal(a.username);
      expect(d.json.result.id).to.equal(a.orgId);
      expect(d.json.result.instanceUrl.replace(/\/$/, '')).to.equal(emu.url);
      expect(d.json.result.alias).to.equal('emu');
      expect(d.json.result.connectedStatus).to.equal('Connected');
      // The auth file went to the isolated HOME, nowhere else.
      expect(existsSync(join(h, '.sfdx', `${a.username}.json`))).to.equal(true);
    });

    it('rejects a wrong token: non-zero exit, no auth file, 401 from userinfo', async () => {
      const h = home();
      const before = emu.requests.length;
      const login = ['org', 'login', 'access-token', '--instance-url', emu.url, '--no-prompt', '--alias', 'bad', '--json'];
      const r = await runSf(login, { home: h, env: { SF_ACCESS_TOKEN: '00D000000000001AAA!not.the.token' } });
      expect(r.code, describeSf(login, r)).to.not.equal(0);
      expect(r.json?.status, describeSf(login, r)).to.not.equal(0);
      expect(r.json?.message).to.match(/Session expired or invalid/);
      const after = emu.requests.slice(before).map((q) => `${q.method} ${q.path} ${q.status}`);
      expect(after).to.include('GET /services/oauth2/userinfo 401');
      expect(existsSync(join(h, '.sfdx', `${emu.config.auth.username}.json`))).to.equal(false);
    });
  });

  describe('plugins link (this plugin inside the real CLI)', () => {
    let h: string;
    before(async function () {
      this.timeout(180_000);
      if (!existsSync(join(ROOT, 'lib', 'commands', 'datacloud', 'load'))) {
        throw new Error('lib/ is not built: run `npm run build` first (`npm test` does).');
      }
      h = home();
      const link = ['plugins', 'link', ROOT, '--no-install'];
      const r = await runSf(link, { home: h, timeoutMs: 150_000 });
      expect(r.code, describeSf(link, r)).to.equal(0);
    });

    it('sf plugins lists it as a linked plugin', async () => {
      const args = ['plugins', '--json'];
      const r = await runSf(args, { home: h });
      expect(r.code, describeSf(args, r)).to.equal(0);
      const list = (Array.isArray(r.json) ? r.json : r.json?.result) as Array<{ name: string; type: string; root: string }>;
      const me = list.find((p) => p.name === '@datacloud/plugin-datacloud-load');
      expect(me, describeSf(args, r)).to.not.equal(undefined);
      expect(me!.type).to.equal('link');
    });

    it('sf datacloud load --help lists every documented command', async () => {
      const args = ['datacloud', 'load', '--help'];
      const r = await runSf(args, { home: h });
      expect(r.code, describeSf(args, r)).to.equal(0);
      // A command whose module fails to import is silently dropped from this list (oclif
      // prints a ModuleLoadError warning on stderr) - so this checks every command loads.
      const listed = [...r.stdout.matchAll(/^\s+datacloud load (\S+)/gm)].map((m) => m[1]).sort();
      expect(listed, describeSf(args, r)).to.deep.equal([...LOAD_COMMANDS].sort());
      expect(r.stderr, 'module load errors').to.not.match(/ModuleLoadError|MODULE_NOT_FOUND/);
    });

    it('sf datacloud load start --help renders the command help', async () => {
      const args = ['datacloud', 'load', 'start', '--help'];
      const r = await runSf(args, { home: h });
      expect(r.code, describeSf(args, r)).to.equal(0);
      expect(r.stdout).to.match(/USAGE/);
      expect(r.stdout).to.match(/\$ sf datacloud load start/);
      expect(r.stdout).to.match(/--target-org/);
    });
  });
});
