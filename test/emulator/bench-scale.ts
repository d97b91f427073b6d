/*
 * Scale benchmark of the emulator (a script that prints figures, not a test): starts the
 * emulator in its own process (cli.ts) with a generated dataset, then drives a whole load
 * through plain fetch calls the way the plugin does — a keyset page query on (parent, key)
 * → a CSV upsert job (create, PUT, PATCH UploadComplete, poll) → its three result CSVs —
 * and reports the emulator process's RSS (current and peak) and CPU seconds after
 * generating and after serving.
 *
 *   node --import tsx test/emulator/bench-scale.ts --rows 2000000 --parents 200000 --extra-columns 3
 *   options: --page 10000 --in-flight 10 --time-scale 1000 --lock (keep the lock model on)
 *            --delete (DELETE each job after reading its results) --json
 *            --node-args "--cpu-prof" (flags for the emulator's node)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const V = '/services/data/v64.0';

const { values: opt } = parseArgs({
  options: {
    rows: { type: 'string', default: '2000000' },
    parents: { type: 'string', default: '200000' },
    'extra-columns': { type: 'string', default: '0' },
    page: { type: 'string', default: '10000' },
    'in-flight': { type: 'string', default: '10' },
    'time-scale': { type: 'string', default: '1000' },
    lock: { type: 'boolean', default: false },
    delete: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    cli: { type: 'string' },
    'node-args': { type: 'string', default: '' },
  },
});
const ROWS = Number(opt.rows);
const PAGE = Number(opt.page);
const IN_FLIGHT = Number(opt['in-flight']);

/** Source column → target field (the sample definition, plus the extra columns). */
const MAPPING: Record<string, string> = {
  ExternalId__c: 'External_ID__c',
  Name__c: 'Name',
  StageName__c: 'StageName',
  CloseDate__c: 'CloseDate',
  Amount__c: 'Amount',
  AccountExternalId__c: 'Account.External_ID__c',
  Description__c: 'Description',
  Probability__c: 'Probability',
  LeadSource__c: 'LeadSource',
};

type Usage = { rssMb: number; peakRssMb: number; cpuSeconds: number };

function usage(pid: number): Usage {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  return { rssMb: Math.round(kb('VmRSS') / 1024), peakRssMb: Math.round(kb('VmHWM') / 1024), cpuSeconds: Math.round((ticks / 100) * 10) / 10 };
}

async function startChild(configFile: string): Promise<{ child: ChildProcess; url: string; token: string; readyMs: number }> {
  const t0 = Date.now();
  const args = [...(opt['node-args'] ? opt['node-args'].split(' ') : []), '--import', 'tsx', opt.cli ?? join(here, 'cli.ts'), '--port', '0', '--rows', String(ROWS), '--parents', String(opt.parents), '--config', configFile];
  if (Number(opt['extra-columns']) > 0) args.push('--extra-columns', String(opt['extra-columns']));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`emulator exited with ${code}: ${out}`)));
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('Press Ctrl-C')) {
        const url = /url\s+(http:\/\/\S+)/.exec(out)![1];
        const token = /token\s+(\S+)/.exec(out)![1];
        resolve({ child, url, token, readyMs: Date.now() - t0 });
      }
    });
  });
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '#N/A';
  const s = typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v as number);
  return /[",\r\n]/.test(s) || s === '' ? `"${s.replace(/"/g, '""')}"` : s;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'emu-scale-'));
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ timeScale: Number(opt['time-scale']), bulk: { lock: { enabled: opt.lock } } }));
  const { child, url, token, readyMs } = await startChild(configFile);
  rmSync(dir, { recursive: true, force: true });
  // Never leave the emulator behind, whatever happens to the driver.
  process.on('exit', () => child.kill('SIGKILL'));
  const pid = child.pid!;
  const afterGenerate = usage(pid);
  const auth = { Authorization: `Bearer ${token}` };

  let netRetries = 0;
  const call = async (method: string, path: string, body?: unknown, type = 'application/json'): Promise<Response> => {
    let res: Response;
    for (let attempt = 0; ; attempt++) {
      try {
        res = await fetch(url + path, {
          method,
          headers: { ...auth, ...(body !== undefined ? { 'Content-Type': type } : {}) },
          ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
        });
        break;
      } catch (err) {
        // A reused keep-alive socket closed by the server: retry GETs (as jsforce does) and query POSTs.
        if ((method !== 'GET' && !path.endsWith('/ssot/query-sql')) || attempt >= 4) throw err;
        netRetries++;
      }
    }
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res;
  };

  const t0 = Date.now();
  let queryMs = 0;
  let rowsRead = 0;
  let jobsDone = 0;
  let okRows = 0;
  let failedRows = 0;
  let resultBytes = 0;
  const inflight = new Set<Promise<void>>();

  const runJob = async (header: string[], rows: unknown[][]): Promise<void> => {
    const csv = [header.join(','), ...rows.map((r) => r.map(csvCell).join(','))].join('\n') + '\n';
    const job = (await (await call('POST', `${V}/jobs/ingest`, { object: 'Opportunity', operation: 'upsert', externalIdFieldName: 'External_ID__c', lineEnding: 'LF', columnDelimiter: 'COMMA' })).json()) as { id: string };
    await call('PUT', `${V}/jobs/ingest/${job.id}/batches`, csv, 'text/csv');
    await call('PATCH', `${V}/jobs/ingest/${job.id}`, { state: 'UploadComplete' });
    for (;;) {
      const info = (await (await call('GET', `${V}/jobs/ingest/${job.id}`)).json()) as { state: string };
      if (info.state === 'JobComplete' || info.state === 'Failed' || info.state === 'Aborted') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const kind of ['successfulResults', 'failedResults', 'unprocessedrecords']) {
      const text = await (await call('GET', `${V}/jobs/ingest/${job.id}/${kind}`)).text();
      resultBytes += text.length;
      const lines = text.split('\n').length - 2;
      if (kind === 'successfulResults') okRows += lines;
      if (kind === 'failedResults') failedRows += lines;
    }
    if (opt.delete) await call('DELETE', `${V}/jobs/ingest/${job.id}`);
    jobsDone++;
    if (jobsDone % 20 === 0) process.stderr.write(`  … ${jobsDone} jobs, ${Math.round((Date.now() - t0) / 1000)} s, emulator RSS ${usage(pid).rssMb} MB\n`);
  };

  // Columns from the table's metadata.
  const meta = (await (await call('POST', `${V}/ssot/query-sql`, { sql: 'SELECT * FROM "ExtOpportunities__dlm" LIMIT 1' })).json()) as { metadata: Array<{ name: string }> };
  const cols = meta.metadata.map((m) => m.name).filter((c) => MAPPING[c]);
  const header = cols.map((c) => MAPPING[c]);
  const q = (s: string): string => `'${s.replace(/'/g, "''")}'`;
  let last: [string, string] | undefined;
  for (;;) {
    const where = last ? ` WHERE (("AccountExternalId__c" > ${q(last[0])}) OR ("AccountExternalId__c" = ${q(last[0])} AND "ExternalId__c" > ${q(last[1])}))` : '';
    const sql = `SELECT ${cols.map((c) => `"${c}"`).join(', ')} FROM "ExtOpportunities__dlm"${where} ORDER BY "AccountExternalId__c", "ExternalId__c" LIMIT ${PAGE}`;
    const tq = Date.now();
    const res = (await (await call('POST', `${V}/ssot/query-sql`, { sql, rowLimit: PAGE })).json()) as { data: unknown[][]; status: { rowCount: number; queryId: string } };
    const rows = res.data;
    while (rows.length < res.status.rowCount) {
      const page = (await (await call('GET', `${V}/ssot/query-sql/${res.status.queryId}/rows?offset=${rows.length}&rowLimit=${PAGE}&omitSchema=true`)).json()) as { data: unknown[][] };
      rows.push(...page.data);
    }
    queryMs += Date.now() - tq;
    if (rows.length === 0) break;
    rowsRead += rows.length;
    const pi = cols.indexOf('AccountExternalId__c');
    const ki = cols.indexOf('ExternalId__c');
    last = [String(rows.at(-1)![pi]), String(rows.at(-1)![ki])];
    while (inflight.size >= IN_FLIGHT) await Promise.race(inflight);
    const p: Promise<void> = runJob(header, rows).finally(() => inflight.delete(p));
    inflight.add(p);
    if (rows.length < PAGE) break;
  }
  await Promise.all(inflight);
  const loadMs = Date.now() - t0;
  const afterLoad = usage(pid);
  const stored = (await (await fetch(`${url}/__emulator/target/Opportunity`)).json()) as { rows: number };
  const mem = (await (await fetch(`${url}/__emulator/memory?gc=1`)).json()) as { rss: number; heapUsed: number; external: number; gcRan: boolean; held: Record<string, number> };
  const mb = (n: number): number => Math.round(n / 1048576);
  const liveMb = {
    heapUsedMb: mb(mem.heapUsed),
    externalMb: mb(mem.external),
    rssMb: mb(mem.rss),
    afterGc: mem.gcRan,
    heldMb: Object.fromEntries(Object.entries(mem.held).map(([k, v]) => [k, mb(v)])),
  };
  child.kill('SIGINT');

  const report = {
    rows: ROWS,
    extraColumns: Number(opt['extra-columns']),
    columns: cols.length,
    lock: opt.lock,
    generateAndStartSeconds: readyMs / 1000,
    afterGenerate,
    loadSeconds: loadMs / 1000,
    pageQuerySeconds: queryMs / 1000,
    rowsRead,
    jobs: jobsDone,
    netRetries,
    okRows,
    failedRows,
    storedRows: stored.rows,
    resultMb: Math.round(resultBytes / 1048576),
    afterLoad,
    live: liveMb,
    emulatorCpuSecondsServing: Math.round((afterLoad.cpuSeconds - afterGenerate.cpuSeconds) * 10) / 10,
    driverCpuSeconds: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1e5) / 10,
  };
  if (opt.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else {
    process.stdout.write(
      [
        `emulator scale run: ${ROWS} rows × ${cols.length} columns, pages of ${PAGE}, ${IN_FLIGHT} jobs in flight, lock model ${opt.lock ? 'on' : 'off'}`,
        `  generate + start   ${report.generateAndStartSeconds.toFixed(1)} s wall; RSS ${afterGenerate.rssMb} MB (peak ${afterGenerate.peakRssMb} MB), CPU ${afterGenerate.cpuSeconds} s`,
        `  load               ${report.loadSeconds.toFixed(1)} s wall (page queries ${report.pageQuerySeconds.toFixed(1)} s), ${jobsDone} jobs, ${rowsRead} rows read, ${okRows} ok, ${failedRows} failed, ${stored.rows} stored, results ${report.resultMb} MB`,
        `  after load         RSS ${afterLoad.rssMb} MB (peak ${afterLoad.peakRssMb} MB), CPU ${afterLoad.cpuSeconds} s (serving: ${report.emulatorCpuSecondsServing} s)`,
        `  live after load    heap ${liveMb.heapUsedMb} MB + external ${liveMb.externalMb} MB, RSS ${liveMb.rssMb} MB${liveMb.afterGc ? ' (after a full GC)' : ' (no --expose-gc: not collected first)'}`,
        `  held               ${Object.entries(liveMb.heldMb).map(([k, v]) => `${k} ${v} MB`).join(', ')}`,
        `  driver CPU         ${report.driverCpuSeconds} s (GET retries after a reset socket: ${netRetries})`,
        '',
      ].join('\n')
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
