/*
 * Issue 12, suite 3: nobody reads what they should not. Through the plugin's commands against
 * the emulator:
 *   - a full load with a known token (the emulator's) and --notify-url pointing at a loopback
 *     receiver whose URL path holds a secret, with SF_LOG_LEVEL=debug: the token, an
 *     Authorization header and the secret path are in no run file (recursively), not in stdout
 *     or stderr, not in the sf debug log, nowhere in HOME; the receiver got the final status
 *     with a `text` field; a webhook that fails is named without its secret;
 *   - run directories are 0700 and their files 0600 whatever the umask (start and resume run
 *     under `umask 000`, checked mid-run while the run is held and at the end);
 *   - `--json` errors carry no row values: the emulator answers errors whose messages quote a
 *     row's key (an upload refused, a page query refused, a validation message behind the
 *     circuit breaker) and the key is in no part of the command's output.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { generateDataset } from '../emulator/dataset.js';
import { FaultHarness, until, printCaseCount } from '../helpers/fault-harness.js';
import { webhookReceiver, type Received } from '../helpers/fault-processes.js';
import { ROOT, type CommandResult } from '../helpers/plugin.js';
import { RunDir } from '../../src/state/run-dir.js';

const V = '^/services/data/v[0-9.]+';

/** Every file under `dir` (recursively), skipping `skip` directories by name. */
function files(dir: string, skip: string[] = []): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) {
      if (!skip.includes(name)) out.push(...files(p, skip));
    } else if (st.isFile()) out.push(p);
  }
  return out;
}

/** Where in `texts` (name → content) any of `needles` occurs, as "name: needle". */
function findSecrets(texts: Array<[string, string]>, needles: Array<string | RegExp>): string[] {
  const hits: string[] = [];
  for (const [name, text] of texts) {
    for (const n of needles) {
      const found = typeof n === 'string' ? text.includes(n) : n.test(text);
      if (found) hits.push(`${name}: ${String(n)}`);
    }
  }
  return hits;
}

describe('secrets (issue 12): no token, header or webhook secret in any file or output; private modes; no row values in errors', function () {
  after(function () {
    printCaseCount(this);
  });
  this.timeout(900_000);
  let h: FaultHarness;
  let cases = 0;
  const ds = generateDataset({ rows: 3_000, parents: 100, seed: 21, shuffle: true });
  const PACING = { rowsPerJob: 500, maxConcurrency: 2 };

  before(async () => {
    h = await FaultHarness.start();
  });
  after(async () => {
    console.log(`      secrets: ${cases} cases`);
    await h?.close();
  });

  describe('a full load with a known token, a secret webhook URL and the sf debug log on', () => {
    const SECRET = 'T0SECRET/B0SECRET/xoxSecretPathPart9f3a';
    let hook: Awaited<ReturnType<typeof webhookReceiver>>;
    let res: CommandResult;
    let runDir: string;
    let needles: Array<string | RegExp>;

    before(async () => {
      hook = await webhookReceiver();
      const def = h.serve('secrets', ds, PACING);
      // A stop on the way (a dropped upload, an expired session is in the fault matrix) and a row failure make the run write every kind of file.
      h.emu.configure({
        faults: [{ method: 'PUT', path: `${V}/jobs/ingest/[^/]+/batches$`, drop: 'after', skip: 1, times: 1 }],
        bulk: { rowRules: [{ name: 'v', code: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: 'Amount must be reviewed', rate: 0.01 }] },
      });
      res = await h.start(def, ['--notify-url', `${hook.url}/services/hooks/${SECRET}`], { SF_LOG_LEVEL: 'debug' });
      runDir = res.json?.result?.runDir;
      needles = [h.emu.token, 'emulator.token', /Bearer\s+[A-Za-z0-9!._-]{8,}/, /authorization["']?\s*[:=]\s*["']?(Bearer|OAuth)\s+(?!\[redacted\])/i, SECRET, 'xoxSecretPathPart9f3a'];
    });
    after(async () => {
      await h.reset();
      await hook?.close();
    });

    it('the load ran to its end (exit 2: one validation rule), through the webhook', () => {
      expect(res.code, res.stdout.slice(0, 2000) + res.stderr.slice(-2000)).to.equal(2);
      expect(runDir).to.be.a('string');
      cases++;
    });

    it('no run file (recursively) holds the token, an Authorization header or the webhook secret', () => {
      const all = files(runDir);
      expect(all.map((f) => f.slice(runDir.length + 1))).to.include.members(['run.json', 'jobs.ndjson', 'events.ndjson', 'failures.ndjson']);
      expect(findSecrets(all.map((f) => [f, readFileSync(f, 'utf8')]), needles)).to.deep.equal([]);
      cases++;
    });

    it('stdout and stderr hold none of them', () => {
      expect(res.stdout.length + res.stderr.length, 'something was printed').to.be.greaterThan(0);
      expect(findSecrets([['stdout', res.stdout], ['stderr', res.stderr]], needles)).to.deep.equal([]);
      cases++;
    });

    it('the sf debug log (HOME/.sf/*.log, SF_LOG_LEVEL=debug) holds none of them', () => {
      const logs = files(join(h.org.home, '.sf')).filter((f) => f.endsWith('.log'));
      expect(logs, 'sf wrote a debug log').to.not.deep.equal([]);
      const texts = logs.map((f) => [f, readFileSync(f, 'utf8')] as [string, string]);
      expect(texts.reduce((n, [, t]) => n + t.length, 0), 'the debug log has content').to.be.greaterThan(0);
      expect(findSecrets(texts, needles)).to.deep.equal([]);
      cases++;
    });

    it('nowhere in HOME is the token or the webhook secret in clear text (auth files included)', () => {
      const all = files(h.org.home, ['node_modules']);
      expect(findSecrets(all.map((f) => [f, readFileSync(f, 'latin1')]), [h.emu.token, SECRET])).to.deep.equal([]);
      cases++;
    });

    it('the receiver got one POST with the final status and a `text` field; the URL\'s secret is not in the body', () => {
      expect(hook.received.map((r: Received) => r.method)).to.deep.equal(['POST']);
      const got = hook.received[0];
      expect(got.path).to.equal(`/services/hooks/${SECRET}`);
      expect(got.headers.authorization, 'no credentials sent to the webhook').to.equal(undefined);
      const body = JSON.parse(got.body) as Record<string, any>;
      expect(body.text).to.be.a('string').that.matches(new RegExp(res.json.result.runId));
      expect(JSON.stringify(body)).to.not.contain(h.emu.token);
      expect(JSON.stringify(body)).to.not.contain(SECRET);
      cases++;
    });

    it('a webhook that cannot be reached: the run still ends with its own exit code, the warning names the host, never the secret path', async () => {
      const def = h.serve('secrets-badhook', ds, PACING);
      h.emu.configure({ faults: [], bulk: { rowRules: [] } });
      const closed = await webhookReceiver();
      const url = `${closed.url}/services/hooks/${SECRET}`;
      await closed.close();
      const r = await h.start(def, ['--notify-url', url]);
      expect(r.code, r.stdout.slice(0, 2000)).to.equal(0);
      expect(r.stderr + r.stdout).to.contain('127.0.0.1');
      expect(findSecrets([['stdout', r.stdout], ['stderr', r.stderr], ...files(r.json.result.runDir).map((f) => [f, readFileSync(f, 'utf8')] as [string, string])], [SECRET, 'xoxSecretPathPart9f3a'])).to.deep.equal([]);
      cases++;
    });
  });

  describe('private modes whatever the umask', () => {
    /** `node bin/run.js <args>` under `umask 000`, as a child process. */
    function underUmask000(args: string[]): { closed: Promise<CommandResult> } {
      const child = spawn('sh', ['-c', 'umask 000; exec "$0" "$@"', process.execPath, join(ROOT, 'bin/run.js'), ...args, '--json'], { env: h.org.env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      return {
        closed: new Promise((r) => child.once('close', (code) => {
          let json: unknown;
          try {
            json = JSON.parse(stdout);
          } catch {
            json = undefined;
          }
          r({ code, stdout, stderr, json });
        })),
      };
    }

    function modes(dir: string): string[] {
      const wrong: string[] = [];
      const walk = (d: string): void => {
        const m = statSync(d).mode & 0o777;
        if (m !== 0o700) wrong.push(`${d}: ${m.toString(8)} (a directory must be 700)`);
        for (const name of readdirSync(d)) {
          const p = join(d, name);
          const st = statSync(p);
          if (st.isDirectory()) walk(p);
          else if ((st.mode & 0o777) !== 0o600) wrong.push(`${p}: ${(st.mode & 0o777).toString(8)} (a file must be 600)`);
        }
      };
      walk(dir);
      return wrong;
    }

    afterEach(async () => h.reset());

    it('start and resume under umask 000: every run directory 0700 and every file 0600, mid-run (job CSVs and lock.json there) and at the end', async () => {
      const def = h.serve('modes', ds, PACING);
      h.holdAfter(1);
      const before = new Set(RunDir.list(h.org.runsDir));
      const started = underUmask000(['datacloud', 'load', 'start', '-o', 'emu', '--definition', def]);
      const runId = await until(() => RunDir.list(h.org.runsDir).find((id) => !before.has(id)), 180_000, 'the run');
      const run = h.run(runId);
      await h.heldJob();
      await until(() => (existsSync(run.lockFile) && files(join(run.dir, 'jobs')).length > 0 ? true : undefined), 60_000, 'a job CSV');
      const mid = files(run.dir).map((f) => f.slice(run.dir.length + 1));
      expect(mid).to.include('lock.json');
      expect(mid.some((f) => f.startsWith('jobs/') && f.endsWith('.csv'))).to.equal(true);
      expect(modes(run.dir), 'mid-run').to.deep.equal([]);
      expect(statSync(h.org.runsDir).mode & 0o777, 'the runs folder').to.equal(0o700);
      // Expire the session: the run stops; resume (also under umask 000) finishes it.
      h.emu.configure({ auth: { token: '00D000000000001AAA!rotated.token' }, bulk: { holdAfterJobs: null } });
      const stopped = await started.closed;
      expect(stopped.code, stopped.stdout.slice(0, 1000)).to.equal(3);
      expect(modes(run.dir), 'after the stop').to.deep.equal([]);
      await h.reset(); // the original token, logged in again
      const done = await underUmask000(['datacloud', 'load', 'resume', '-o', 'emu', '--run-id', runId]).closed;
      expect(done.code, done.stdout.slice(0, 1000) + done.stderr.slice(-1000)).to.equal(0);
      expect(modes(run.dir), 'after resume').to.deep.equal([]);
      cases++;
    });
  });

  describe('--json errors carry no row values and no raw bodies', () => {
    afterEach(async () => h.reset());
    const key = String(ds.table.rows[7].ExternalId__c);
    const quoting = (k: string): string => `row ${k}, "${k}", '${k}' (External_ID__c=${k})`;

    function noKey(res: CommandResult, label: string): void {
      const context = `${label}: exit ${res.code}\n${res.stdout.slice(0, 3000)}`;
      expect(res.code, context).to.be.oneOf([1, 2, 3]);
      const error = res.json?.result?.error ?? res.json;
      expect(error?.name, context).to.match(/Error$/);
      expect(error?.message, context).to.be.a('string').that.is.not.empty;
      expect(res.stdout.includes(key), `${label}: the key is in the JSON output: ${context}`).to.equal(false);
      expect(res.stderr.includes(key), `${label}: the key is on stderr`).to.equal(false);
      cases++;
    }

    it('an upload refused (400) with a message quoting a row\'s key, every time: the run stops and its JSON error names the problem without the key', async () => {
      const def = h.serve('leak-upload', ds, { ...PACING, maxConcurrency: 1 });
      h.emu.configure({ faults: [{ method: 'PUT', path: `${V}/jobs/ingest/[^/]+/batches$`, status: 400, errorCode: 'INVALIDBATCH', message: `InvalidBatch : Failed to process ${quoting(key)}` }] });
      noKey(await h.start(def), 'upload refused');
    });

    it('a page query refused (400) quoting the keyset literal: SourceQueryRejected without the key', async () => {
      const def = h.serve('leak-query', ds, { ...PACING, maxConcurrency: 1 });
      h.emu.configure({ faults: [{ method: 'POST', path: `${V}/ssot/query-sql$`, status: 400, errorCode: 'INVALID_SQL', message: `Syntax error near ${quoting(key)} at line 1`, skip: 5 }] });
      noKey(await h.start(def), 'page query refused');
    });

    it('a validation message that quotes a key, on every row: the circuit breaker\'s error names the code without the key', async () => {
      const def = h.serve('leak-breaker', ds, { ...PACING, maxConcurrency: 1 });
      h.emu.configure({ bulk: { rowRules: [{ name: 'v', code: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: `Amount of ${quoting(key)} must be reviewed`, rate: 1 }] } });
      noKey(await h.start(def), 'circuit breaker');
    });

    it('planning: describe refused (400) with a message quoting a key: the error names the problem without the key', async () => {
      const def = h.serve('leak-describe', ds, PACING);
      h.emu.configure({ faults: [{ method: 'GET', path: `${V}/sobjects/Opportunity/describe$`, status: 400, errorCode: 'INVALID_TYPE', message: `sObject type Opportunity is not supported for ${quoting(key)}` }] });
      noKey(await h.start(def), 'describe refused');
    });
  });
});
