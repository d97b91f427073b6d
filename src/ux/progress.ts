/*
 * The live display of a load (interim: plain lines every few seconds; the full-screen
 * summary replaces it). The engine only hands it snapshots.
 */
import type { ProgressSnapshot } from '../ledger/status-types.js';

export type ProgressOptions = { title: string; jsonEnabled: boolean; stream?: NodeJS.WriteStream; ciIntervalMs?: number };

export class LoadProgress {
  private last = 0;
  private readonly out: NodeJS.WriteStream;

  public constructor(private readonly o: ProgressOptions) {
    this.out = o.stream ?? process.stderr;
    if (!o.jsonEnabled) this.out.write(`${o.title}\n`);
  }

  public update(s: ProgressSnapshot): void {
    if (this.o.jsonEnabled) return;
    const now = Date.now();
    if (now - this.last < (this.o.ciIntervalMs ?? 5000)) return;
    this.last = now;
    const t = s.totals;
    this.out.write(`${s.state}: ${fmt(t.loaded)}/${fmt(t.sourceRows)} loaded, ${fmt(t.failed)} failed, ${fmt(t.pending)} pending, ${s.concurrency.inFlight}/${s.concurrency.limit} jobs in flight\n`);
  }

  /** The display's last frame; the command prints the closing lines itself (stdout). */
  public stop(final: { state: string; lines: string[] }): void {
    void final;
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
