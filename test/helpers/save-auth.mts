/*
 * Save an sf auth file for the emulator into $HOME (an isolated test home), the way
 * `sf org login access-token` does, so commands can use --target-org <username>.
 * Usage: node --import tsx test/helpers/save-auth.mts <instanceUrl> (token on stdin)
 */
import { AuthInfo } from '@salesforce/core';

const [instanceUrl] = process.argv.slice(2);
const chunks: Buffer[] = [];
for await (const c of process.stdin) chunks.push(c as Buffer);
const accessToken = Buffer.concat(chunks).toString('utf8').trim();
const auth = await AuthInfo.create({ accessTokenOptions: { accessToken, instanceUrl, loginUrl: instanceUrl } });
await auth.save();
await auth.handleAliasAndDefaultSettings({ alias: 'emu', setDefault: false, setDefaultDevHub: false });
process.stdout.write(auth.getUsername() ?? '');
