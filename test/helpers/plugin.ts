/*
 * Run the plugin's own commands as a user would: `node bin/run.js datacloud load …` in a
 * child process, with an isolated HOME holding an auth file for the emulator.
 * `npm test` builds lib/ first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');

export type OrgHome = { home: string; username: string; runsDir: string; env: NodeJS.ProcessEnv };
export type CommandResult = { code: number | null; stdout: string; stderr: string; json?: any };

export function isolatedEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    USERPROFILE: home,
    SF_DISABLE_DNS_CHECK: 'true',
    SFDX_DISABLE_DNS_CHECK: 'true',
    SF_USE_GENERIC_UNIX_KEYCHAIN: 'true',
    SFDX_USE_GENERIC_UNIX_KEYCHAIN: 'true',
    SF_DISABLE_TELEMETRY: 'true',
    SF_AUTOUPDATE_DISABLE: 'true',
    SF_SKIP_NEW_VERSION_CHECK: 'true',
    SF_DATACLOUD_LOAD_DIR: join(home, 'runs'),
    CI: 'true',
    FORCE_COLOR: '0',
  };
  delete env.SF_ACCESS_TOKEN;
  delete env.SF_TARGET_ORG;
  return env;
}

/** A fresh HOME with the emulator's org saved as alias "emu". */
export async function loginToEmulator(emu: { url: string; token: string }): Promise<OrgHome> {
  const home = mkdtempSync(join(tmpdir(), 'dcl-home-'));
  const env = isolatedEnv(home);
  const res = await runNode(['--import', 'tsx', join(ROOT, 'test/helpers/save-auth.mts'), emu.url], env, 60_000, emu.token);
  if (res.code !== 0) throw new Error(`login to the emulator failed: ${res.stderr}`);
  return { home, username: res.stdout.trim(), runsDir: join(home, 'runs'), env };
}

/** Run `bin/run.js <args>`; parses stdout as JSON when --json is among the args. */
export async function runPlugin(args: string[], org: OrgHome, timeoutMs = 240_000): Promise<CommandResult> {
  const res = await runNode([join(ROOT, 'bin/run.js'), ...args], org.env, timeoutMs);
  if (args.includes('--json')) {
    try {
      res.json = JSON.parse(res.stdout);
    } catch {
      res.json = undefined;
    }
  }
  return res;
}

/** Start a command and return the process (for kill and concurrent-read tests). */
export function spawnPlugin(args: string[], org: OrgHome): ChildProcess {
  return spawn(process.execPath, [join(ROOT, 'bin/run.js'), ...args], { env: org.env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
}

function runNode(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, stdin?: string): Promise<CommandResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, args, { env, cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out after ${timeoutMs} ms: node ${args.join(' ')}\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
    child.stdin.end(stdin ?? '');
  });
}
