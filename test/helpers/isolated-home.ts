/*
 * Point HOME at a fresh temporary directory before @salesforce/core is used, so tests
 * never read or write a real ~/.sf or ~/.sfdx (auth files, config, logs). Import this
 * first (connection.ts does). Idempotent.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MARK = 'DCL_TEST_ISOLATED_HOME';

if (!process.env[MARK]) {
  const home = mkdtempSync(join(tmpdir(), 'dcl-wire-home-'));
  process.env[MARK] = home;
  process.env.HOME = home;
  process.env.USERPROFILE = home;
}
Object.assign(process.env, {
  SF_DISABLE_DNS_CHECK: 'true',
  SFDX_DISABLE_DNS_CHECK: 'true',
  SF_USE_GENERIC_UNIX_KEYCHAIN: 'true',
  SFDX_USE_GENERIC_UNIX_KEYCHAIN: 'true',
  SF_DISABLE_TELEMETRY: 'true',
  SF_DISABLE_LOG_FILE: 'true',
});
delete process.env.SF_ACCESS_TOKEN;
delete process.env.SF_TARGET_ORG;
delete process.env.SF_ORG_API_VERSION;

export const isolatedHome: string = process.env[MARK]!;
