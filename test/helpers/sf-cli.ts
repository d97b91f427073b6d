/*
 * Run the REAL Salesforce CLI (`sf`, pinned in test/fidelity/sf-cli/package.json) as a user
 * would, but sealed off from the developer's machine: a throw-away HOME (so auth files,
 * aliases and linked plugins never touch ~/.sf or ~/.sfdx), no stdin, no telemetry, no
 * auto-update, no DNS check on the emulator's 127.0.0.1 instance URL, and a hard timeout.
 *
 * Install the CLI with `npm ci --prefix test/fidelity/sf-cli` (.ci/run does it).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const SF_CLI_DIR = join(ROOT, 'test', 'fidelity', 'sf-cli');
export const SF_BIN = join(SF_CLI_DIR, 'node_modules', '.bin', 'sf');
export const SF_CLI_INSTALL_HINT = 'npm ci --prefix test/fidelity/sf-cli';

export type SfResult = {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON when it is JSON (commands run with --json), else undefined. */
  json?: any;
  timedOut: boolean;
  ms: number;
};

export type SfRunOptions = {
  /** The isolated HOME; see makeSfHome(). Required so no test ever uses the real ~/.sf. */
  home: string;
  /** Extra environment (e.g. SF_ACCESS_TOKEN). */
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  cwd?: string;
};

/** True when the pinned sf CLI is installed under test/fidelity/sf-cli/node_modules. */
export function sfCliInstalled(): boolean {
  return existsSync(SF_BIN);
}

/** The installed version of @salesforce/cli, or undefined. */
export function sfCliVersion(): string | undefined {
  const pj = join(SF_CLI_DIR, 'node_modules', '@salesforce', 'cli', 'package.json');
  if (!existsSync(pj)) return undefined;
  try {
    return (JSON.parse(readFileSync(pj, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** A fresh, empty HOME for one sf "user". Remove it with removeSfHome(). */
export function makeSfHome(prefix = 'dcl-sf-home-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeSfHome(home: string): void {
  rmSync(home, { recursive: true, force: true });
}

/** The environment sf runs with: the parent's, minus any SF_/SFDX_ settings, plus isolation. */
export function sfEnv(home: string, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(SF|SFDX|OCLIF)_/i.test(k)) continue; // never inherit a developer's org/config settings
    if (/^npm_/i.test(k)) continue; // `npm test` config would leak into sf's own npm use
    env[k] = v;
  }
  Object.assign(env, {
    HOME: home,
    USERPROFILE: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_CACHE_HOME: join(home, '.cache'),
    SF_DISABLE_DNS_CHECK: 'true',
    SFDX_DISABLE_DNS_CHECK: 'true',
    SF_AUTOUPDATE_DISABLE: 'true',
    SFDX_AUTOUPDATE_DISABLE: 'true',
    // oclif's plugin-update reads <BIN>_DISABLE_AUTOUPDATE; without it every run may spawn a
    // detached `sf update --autoupdate` that outlives the test.
    SF_DISABLE_AUTOUPDATE: 'true',
    SFDX_DISABLE_AUTOUPDATE: 'true',
    SF_DISABLE_TELEMETRY: 'true',
    SFDX_DISABLE_TELEMETRY: 'true',
    SF_USE_GENERIC_UNIX_KEYCHAIN: 'true',
    SFDX_USE_GENERIC_UNIX_KEYCHAIN: 'true',
    SF_SKIP_NEW_VERSION_CHECK: 'true',
    SF_DISABLE_LOG_FILE: 'true',
    SF_HIDE_RELEASE_NOTES: 'true',
    SF_HIDE_RELEASE_NOTES_FOOTER: 'true',
    SF_IMPROVED_CODE_COVERAGE: 'true',
    FORCE_COLOR: '0',
    NO_COLOR: '1',
    CI: 'true',
    // sf's hooks spawn `sf`/`node` by name: make both resolve to the pinned CLI on this Node.
    PATH: [join(SF_CLI_DIR, 'node_modules', '.bin'), dirname(process.execPath), process.env.PATH ?? ''].join(delimiter),
  });
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/**
 * Run `sf <args>`. Never rejects for a non-zero exit: the caller asserts on code/json.
 * Rejects only when sf is not installed. A timeout kills the process tree and resolves
 * with timedOut=true and code=null.
 */
export function runSf(args: string[], opts: SfRunOptions): Promise<SfResult> {
  if (!sfCliInstalled()) {
    return Promise.reject(new Error(`The pinned sf CLI is not installed at ${SF_BIN}. Install it with: ${SF_CLI_INSTALL_HINT}`));
  }
  // .bin/sf is a symlink to @salesforce/cli/bin/run.js (#!/usr/bin/env node); run it with
  // this process's Node (22) instead of whatever `node` is first on PATH.
  const runJs = realpathSync(SF_BIN);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const started = Date.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [runJs, ...args], {
      cwd: opts.cwd ?? opts.home,
      env: sfEnv(opts.home, opts.env),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: process.platform !== 'win32',
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined && process.platform !== 'win32') process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code: timedOut ? null : code, stdout, stderr, json: tryJson(stdout), timedOut, ms: Date.now() - started });
    });
  });
}

/** One line describing a result, for assertion messages. */
export function describeSf(args: string[], r: SfResult): string {
  return `sf ${args.join(' ')} → code ${String(r.code)}${r.timedOut ? ' (TIMED OUT)' : ''} in ${r.ms} ms\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`;
}

function tryJson(s: string): any {
  const t = s.trim();
  if (!t.startsWith('{') && !t.startsWith('[')) return undefined;
  try {
    return JSON.parse(t);
  } catch {
    return undefined;
  }
}
