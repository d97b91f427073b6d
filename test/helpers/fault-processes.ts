/*
 * Process-level tools of the fault suites: logging in again in an existing test HOME, running
 * the plugin under a wrapper (a shell that sets the umask, `nsenter` into a mount namespace),
 * a private tmpfs of a fixed size (a disk that fills), immutable files (a run directory that
 * turns unwritable even for root), and a loopback webhook receiver.
 *
 * The tmpfs lives in a mount namespace of its own, held by a `sleep` process this harness
 * starts (and ends by its pid): nothing is mounted on the machine itself, and the namespace
 * goes away with its last process. Tests read its files through /proc/<pid>/root.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ROOT, type CommandResult, type OrgHome } from './plugin.js';

/** Run a program to its end and collect its output. */
export function runProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 300_000, stdin = ''): Promise<CommandResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { env, cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out after ${timeoutMs} ms: ${cmd} ${args.join(' ')}\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolvePromise({ code, stdout, stderr, json });
    });
    child.stdin.end(stdin);
  });
}

/** `sf org login access-token` again, in the same HOME (alias emu), with a new token. */
export async function relogin(org: OrgHome, instanceUrl: string, token: string): Promise<void> {
  const res = await runProcess(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/save-auth.mts'), instanceUrl], org.env, 60_000, token);
  if (res.code !== 0) throw new Error(`login again failed: ${res.stderr}`);
}

/** `node bin/run.js <args>` under a wrapper command (e.g. ['sh', '-c', 'umask 000; exec "$0" "$@"']). */
export function runPluginWrapped(wrapper: string[], args: string[], env: NodeJS.ProcessEnv, timeoutMs = 300_000): Promise<CommandResult> {
  return runProcess(wrapper[0], [...wrapper.slice(1), process.execPath, join(ROOT, 'bin/run.js'), ...args], env, timeoutMs);
}

/** A tmpfs of `sizeKb` at `dir`, visible only to processes entered into its mount namespace. */
export class PrivateTmpfs {
  private constructor(public readonly pid: number, public readonly dir: string, private readonly kill: () => void) {}

  /** Undefined when this machine does not allow it (no root, no CAP_SYS_ADMIN, no unshare), with the reason. */
  public static async create(dir: string, sizeKb: number): Promise<PrivateTmpfs | string> {
    const probe = spawnSync('unshare', ['-m', '--propagation', 'private', 'true']);
    if (probe.error || probe.status !== 0) return `unshare -m is not permitted here (${probe.error?.message ?? probe.stderr.toString().trim()})`;
    if (spawnSync('nsenter', ['--version']).error) return 'nsenter is not installed';
    const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=${sizeKb}k,mode=0755 tmpfs "$0" && echo mounted && exec sleep 100000`, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const ready = await new Promise<string | true>((resolve) => {
      let err = '';
      child.stdout.on('data', (d: Buffer) => d.toString().includes('mounted') && resolve(true));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('close', (code) => resolve(`mount -t tmpfs failed (exit ${code}): ${err.trim()}`));
    });
    if (ready !== true) return ready;
    return new PrivateTmpfs(child.pid!, dir, () => child.kill('SIGKILL'));
  }

  /** The wrapper that runs a command inside the namespace. */
  public get wrapper(): string[] {
    return ['nsenter', '-t', String(this.pid), '-m', '--'];
  }

  /** A path inside the tmpfs, as this (outside) process reaches it. */
  public outside(...parts: string[]): string {
    return join(`/proc/${this.pid}/root`, this.dir, ...parts);
  }

  public close(): void {
    this.kill();
  }
}

/** chattr +i / -i (root can write through permission bits, not through the immutable flag). Returns an error text, or undefined. */
export function chattr(flag: '+i' | '-i', paths: string[]): string | undefined {
  if (!paths.length) return undefined;
  const r = spawnSync('chattr', [flag, ...paths]);
  if (r.error) return `chattr is not available (${r.error.message})`;
  return r.status === 0 ? undefined : `chattr ${flag} failed: ${r.stderr.toString().trim()}`;
}

export type Received = { method: string; path: string; headers: IncomingMessage['headers']; body: string };

/** A loopback HTTP receiver (a webhook): records every request, answers 200. */
export async function webhookReceiver(): Promise<{ url: string; received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}
