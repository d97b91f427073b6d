/*
 * The live display of a load: one stage per partition (rows loaded, failed, retried, jobs)
 * and the totals with ETA, through @oclif/multi-stage-output. It renders plain lines in CI
 * and nothing with --json. The engine only hands it snapshots.
 */
import { ParallelMultiStageOutput } from '@oclif/multi-stage-output';
import type { ProgressSnapshot } from '../engine/runner.js';

type Data = Record<string, string>;

export class LoadProgress {
  private readonly mso: ParallelMultiStageOutput<Data>;
  private readonly stages: string[];
  private readonly started = new Set<number>();
  private readonly finished = new Set<number>();

  public constructor(partitions: number, title: string, jsonEnabled: boolean) {
    this.stages = Array.from({ length: partitions }, (_, i) => stageName(i));
    this.mso = new ParallelMultiStageOutput<Data>({
      title,
      jsonEnabled,
      stages: this.stages,
      showStageTime: true,
      timerUnit: 's',
      stageSpecificBlock: this.stages.map((stage, i) => ({ stage, type: 'dynamic-key-value' as const, label: 'Rows', get: (d?: Data) => d?.[`p${i}`] })),
      postStagesBlock: [
        { type: 'dynamic-key-value', label: 'Loaded', get: (d?: Data) => d?.loaded, bold: true },
        { type: 'dynamic-key-value', label: 'Failed', get: (d?: Data) => d?.failed },
        { type: 'dynamic-key-value', label: 'Retried rows', get: (d?: Data) => d?.retried },
        { type: 'dynamic-key-value', label: 'Bulk jobs (in flight / concurrency)', get: (d?: Data) => d?.jobs },
        { type: 'dynamic-key-value', label: 'ETA', get: (d?: Data) => d?.eta },
      ],
    });
  }

  public update(s: ProgressSnapshot): void {
    const data: Data = {
      loaded: `${fmt(s.totals.loaded)} of ${fmt(s.totals.sourceRows)} (${pct(s.totals.loaded, s.totals.sourceRows)})`,
      failed: fmt(s.totals.failed),
      retried: fmt(s.totals.retried),
      jobs: `${fmt(s.totals.jobs)} (${s.totals.inFlight} / ${s.concurrency})`,
      eta: s.etaSeconds !== undefined ? duration(s.etaSeconds) : '—',
    };
    for (const p of s.partitions) {
      data[`p${p.index}`] = `${fmt(p.loaded)} loaded, ${fmt(p.failed)} failed, ${fmt(p.retried)} retried, ${p.jobs} jobs of ~${fmt(p.plannedRows)} rows`;
    }
    for (const p of s.partitions) {
      const stage = stageName(p.index);
      if (p.state === 'done' && !this.finished.has(p.index)) {
        if (!this.started.has(p.index)) this.mso.startStage(stage, data);
        this.started.add(p.index);
        this.finished.add(p.index);
        this.mso.stopStage(stage, data);
      } else if (p.state === 'running' && !this.started.has(p.index)) {
        this.started.add(p.index);
        this.mso.startStage(stage, data);
      }
    }
    this.mso.updateData(data);
  }

  public stop(ok: boolean): void {
    if (ok) this.mso.stop('completed');
    else this.mso.error();
  }
}

function stageName(i: number): string {
  return `Partition ${i}`;
}

export function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function pct(a: number, b: number): string {
  return b > 0 ? `${((100 * a) / b).toFixed(2)}%` : '—';
}

export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}
