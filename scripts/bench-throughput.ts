/*
 * npm run bench:throughput [-- --rows 200000,2000000 --json]
 *
 * A script that prints figures, not a test. Loads seed-like rows (10 source columns) through
 * the plugin's own `start` command (bin/run.js, a process of its own) into the emulator,
 * which runs in another process with locks, latency and faults off, so what is measured is
 * the plugin. For each row count it prints: wall time, rows per second, the plugin process's
 * CPU seconds per 1M rows (its own getrusage, so the machine's load does not inflate it),
 * its peak RSS, the emulator's share of the CPU, and the time from spawning `start` to its
 * first Bulk job. With --json: {"runs": [{"rows", "wallSeconds", "rowsPerSecond",
 * "cpuSecondsPer1M", "peakRssMB", "emulatorCpuShare", "firstJobSeconds"}]}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loginToEmulator } from '../test/helpers/plugin.js';
import { opportunityDefinition } from '../test/emulator/dataset.js';

const ROOT = resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { rows: { type: 'string', default: '200000,2000000' }, json: { type: 'boolean', default: false } } });
const counts = values.rows!.split(',').map((x) => Number(x.trim())).filter((n) => n > 0);
const say = (line: string): void => {
  if (!values.json) process.stdout.write(`${line}\n`);
};

type Run = { rows: number; wallSeconds: number; rowsPerSecond: number; cpuSecondsPer1M: number; peakRssMB: number; emulatorCpuShare: number; firstJobSeconds: number };

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks (100/s)
}

async function startEmulator(rows: number): Promise<{ proc: ChildProcess; url: string; token: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-tp-'));
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ bulk: { lock: { enabled: false } }, faults: [] }));
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/emulator/cli.ts', '--port', '0', '--rows', String(rows), '--parents', String(Math.max(10, Math.round(rows / 10))), '--extra-columns', '3', '--time-scale', '100000', '--config', config],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] }
  );
  let out = '';
  const url = await new Promise<string>((res, rej) => {
    proc.once('exit', (code) => rej(new Error(`the emulator exited (${code})`)));
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m && /SF_ACCESS_TOKEN=/.test(out)) res(m[1]);
    });
  });
  const token = /SF_ACCESS_TOKEN=(\S+)/.exec(out)![1].replace(/^'|'$/g, '');
  return { proc, url, token };
}

async function once(rows: number): Promise<Run> {
  say(`Loading ${rows.toLocaleString('en-US')} rows …`);
  const emu = await startEmulator(rows);
  try {
    const org = await loginToEmulator(emu);
    const def = join(org.home, 'def.json');
    const d = opportunityDefinition('ExtOpportunities__dlm', { pollSeconds: [0.2, 1] }, 3) as { source: Record<string, unknown> };
    d.source.columns = ['ExternalId__c', 'AccountExternalId__c', 'Name__c', 'StageName__c', 'CloseDate__c', 'Amount__c', 'LastModified__c', 'Description__c', 'Probability__c', 'LeadSource__c'];
    writeFileSync(def, JSON.stringify(d));
    const rusage = join(org.home, 'rusage.json');
    const emuCpu0 = cpuSeconds(emu.proc.pid!);
    const t0 = Date.now();
    const child = spawn(process.execPath, [...(process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : []), '--import', join(ROOT, 'scripts/bench/rusage.mjs'), join(ROOT, 'bin/run.js'), 'datacloud', 'load', 'start', '-o', 'emu', '--definition', def, '--json'], {
      cwd: ROOT,
      env: { ...org.env, BENCH_RUSAGE_FILE: rusage },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (x: Buffer) => (stdout += x.toString()));
    child.stderr!.on('data', (x: Buffer) => (stderr += x.toString()));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    const wallSeconds = (Date.now() - t0) / 1000;
    const emuCpu = cpuSeconds(emu.proc.pid!) - emuCpu0;
    if (code !== 0) throw new Error(`start exited ${code}: ${stdout.slice(0, 1500)} ${stderr.slice(-1500)}`);
    const result = JSON.parse(stdout).result as { runDir: string; totals: { loaded: number } };
    if (result.totals.loaded !== rows) throw new Error(`loaded ${result.totals.loaded} of ${rows}`);
    const ru = JSON.parse(readFileSync(rusage, 'utf8')) as { userCPUTime: number; systemCPUTime: number; maxRSS: number };
    const cpu = (ru.userCPUTime + ru.systemCPUTime) / 1e6;
    const firstCreated = readFileSync(join(result.runDir, 'jobs.ndjson'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { t: string; at: string })
      .find((r) => r.t === 'created');
    return {
      rows,
      wallSeconds: round(wallSeconds, 1),
      rowsPerSecond: Math.round(rows / wallSeconds),
      cpuSecondsPer1M: round((cpu / rows) * 1e6, 2),
      peakRssMB: Math.round(ru.maxRSS / 1024),
      emulatorCpuShare: round(emuCpu / (emuCpu + cpu), 3),
      firstJobSeconds: firstCreated ? round((Date.parse(firstCreated.at) - t0) / 1000, 1) : -1,
    };
  } finally {
    emu.proc.kill();
  }
}

function round(x: number, d: number): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

const runs: Run[] = [];
for (const n of counts) runs.push(await once(n));
if (values.json) process.stdout.write(`${JSON.stringify({ runs })}\n`);
else {
  say('');
  say('| rows | wall s | rows/s | plugin CPU s per 1M | plugin peak RSS MB | emulator CPU share | first job s |');
  say('|---|---|---|---|---|---|---|');
  for (const r of runs) say(`| ${r.rows.toLocaleString('en-US')} | ${r.wallSeconds} | ${r.rowsPerSecond.toLocaleString('en-US')} | ${r.cpuSecondsPer1M} | ${r.peakRssMB} | ${(r.emulatorCpuShare * 100).toFixed(0)} % | ${r.firstJobSeconds} |`);
  if (runs.length > 1) say(`\nPeak RSS ${runs.at(-1)!.rows.toLocaleString('en-US')} / ${runs[0].rows.toLocaleString('en-US')}: ${(runs.at(-1)!.peakRssMB / runs[0].peakRssMB).toFixed(2)}×`);
}
process.exit(0);
