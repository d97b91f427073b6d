/*
 * An @salesforce/core Connection to a running emulator, built the way
 * `sf org login access-token` builds one (AuthInfo from access-token options), without
 * saving anything: HOME is a temporary directory (isolated-home.ts).
 */
import { isolatedHome } from './isolated-home.js';
import type { Connection } from '@salesforce/core';

export { isolatedHome };

export async function connectTo(emu: { url: string; token: string }, version = '64.0'): Promise<Connection> {
  // Imported here so that HOME is isolated before @salesforce/core first runs.
  const { AuthInfo, Connection: SfConnection } = await import('@salesforce/core');
  // A trailing slash, as `--instance-url` (Flags.url().href) stores it.
  const instanceUrl = emu.url.endsWith('/') ? emu.url : `${emu.url}/`;
  const authInfo = await AuthInfo.create({ accessTokenOptions: { accessToken: emu.token, instanceUrl, loginUrl: instanceUrl } });
  return SfConnection.create({ authInfo, connectionOptions: { version } });
}
