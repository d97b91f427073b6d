/*
 * The live display of a load (start, resume, retry-failures). The engine hands it snapshots;
 * it knows no engine.
 *
 * On a terminal (TTY): one block redrawn in place with log-update, never taller than the
 * terminal (rows − 1) nor wider (columns − 1), so nothing is left behind in the scrollback:
 * the summary (src/ux/frame.ts) always, then as many in-flight partitions as fit. Redrawn at
 * most every refreshMs, and once a second so the elapsed time moves.
 * Without a TTY (CI, a pipe): one line every ciIntervalMs, not on every update.
 * With --json: nothing at all.
 * stop() ends with the final state, the totals (no ETA, no ✘ for a clean stop) and the lines
 * the caller passes (what resume will do, the next command), and leaves them on screen.
 *
 * The cursor stays visible (log-update's showCursor): hiding it would register exit and
 * signal handlers (cli-cursor, signal-exit) that interfere with the commands' Ctrl-C handling.
 */
import { createLogUpdate } from 'log-update';
import type { ProgressSnapshot } from '../ledger/status-types.js';
import { ciLine, finalLines, frameLines } from './frame.js';

export { duration, fmt, pct } from './frame.js';

export type LoadProgressOptions = {
  title: string;
  jsonEnabled: boolean;
  /** Where to draw (default process.stderr, which keeps stdout for results). */
  stream?: NodeJS.WriteStream;
  /** Default: stream.isTTY. */
  isTTY?: boolean;
  /** Terminal size; default the stream's (followed on resize), else 80 × 24. */
  columns?: number;
  rows?: number;
  /** Without a TTY, at most one line per this many ms (default 5,000). */
  ciIntervalMs?: number;
  /** On a TTY, at most one redraw per this many ms (default 200). */
  refreshMs?: number;
  /** Redraw this often without updates so elapsed time moves (default 1,000; 0: never). */
  tickMs?: number;
  /** The display's clock (tests). */
  now?: () => number;
};

export type FinalState = { state: string; lines: string[] };

type Writer = ReturnType<typeof createLogUpdate>;

export class LoadProgress {
  private readonly o: Required<Omit<LoadProgressOptions, 'columns' | 'rows' | 'stream' | 'isTTY'>> & { columns?: number; rows?: number };
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly writer?: Writer;
  private last?: ProgressSnapshot;
  private receivedAt = 0;
  private lastDraw = -Infinity;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private restore?: () => void;

  public constructor(opts: LoadProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.isTTY ?? this.stream.isTTY === true;
    this.o = {
      title: opts.title,
      jsonEnabled: opts.jsonEnabled,
      ciIntervalMs: opts.ciIntervalMs ?? 5000,
      refreshMs: opts.refreshMs ?? 200,
      tickMs: opts.tickMs ?? 1000,
      now: opts.now ?? Date.now,
      columns: opts.columns,
      rows: opts.rows,
    };
    if (this.o.jsonEnabled || !this.tty) return;
    const size = { o: this.o, stream: this.stream };
    const target = {
      isTTY: true,
      get columns(): number {
        return size.o.columns ?? size.stream.columns ?? 80;
      },
      get rows(): number {
        return size.o.rows ?? size.stream.rows ?? 24;
      },
      write: (chunk: string): boolean => this.write(chunk),
    };
    this.writer = createLogUpdate(target as unknown as NodeJS.WriteStream, { showCursor: true });
  }

  /**
   * Print a line above the live display (a warning, "Stopping…"), which stays in the
   * scrollback; the display is drawn again under it.
   */
  public note(line: string): void {
    if (this.o.jsonEnabled) return;
    if (this.writer && !this.stopped) {
      this.writer.clear();
      this.write(line.endsWith('\n') ? line : `${line}\n`);
      this.draw();
    } else this.stream.write(line.endsWith('\n') ? line : `${line}\n`);
  }

  public get columns(): number {
    return this.o.columns ?? this.stream.columns ?? 80;
  }

  public get rows(): number {
    return this.o.rows ?? this.stream.rows ?? 24;
  }

  public update(s: ProgressSnapshot): void {
    if (this.stopped || this.o.jsonEnabled) return;
    const now = this.o.now();
    this.last = s;
    this.receivedAt = now;
    if (!this.tty) {
      const final = s.state !== 'running' && s.state !== 'stopping' && s.state !== 'planned';
      if (!final && now - this.lastDraw >= this.o.ciIntervalMs) {
        this.lastDraw = now;
        this.stream.write(ciLine(s) + '\n');
      }
      return;
    }
    if (!this.restore) this.interceptForeignWrites();
    if (now - this.lastDraw >= this.o.refreshMs) this.draw();
    if (!this.timer && this.o.tickMs > 0) {
      this.timer = setInterval(() => this.draw(), this.o.tickMs);
      this.timer.unref();
    }
  }

  /** End the display: the final state ('completed', 'stopped', 'cancelled', 'failed', …) and the lines to leave under it. */
  public stop(final: FinalState): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.restore?.();
    if (this.o.jsonEnabled) return;
    const f = final;
    const elapsed = this.elapsed();
    const lines = finalLines(f.state, this.last, this.o.title, f.lines, this.columns, elapsed);
    if (this.writer) {
      this.writer(lines.join('\n'));
      this.writer.done();
    } else {
      const s = this.last;
      const head = lines[1];
      this.stream.write(`${s ? `${ciLine({ ...s, state: 'stopped', etaSeconds: null }, elapsed).replace(/ · (ETA —|stopping)/, '')} · ` : ''}${head}\n${f.lines.map((l) => `${l}\n`).join('')}`);
    }
  }

  /** The display's own writes bypass the interception below. */
  private write(chunk: string): boolean {
    return this.rawWrite ? this.rawWrite(chunk) : this.stream.write(chunk);
  }

  private rawWrite?: (chunk: string) => boolean;

  /**
   * While the display is live on process.stderr or process.stdout, anything else written to
   * either (a warning, a log line) is printed above it instead of through it, so no frame is
   * left half-erased. Undone by stop().
   */
  private interceptForeignWrites(): void {
    const ours = this.stream === process.stderr || this.stream === process.stdout;
    if (!ours || !this.writer) {
      this.restore = () => undefined;
      return;
    }
    const streams: NodeJS.WriteStream[] = [process.stdout, process.stderr].filter((st) => st.isTTY);
    const originals = new Map(streams.map((st) => [st, st.write] as const));
    const own = originals.get(this.stream) ?? this.stream.write;
    this.rawWrite = (chunk: string): boolean => own.call(this.stream, chunk);
    for (const st of streams) {
      const orig = originals.get(st)!;
      st.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
        if (this.stopped || !this.writer) return (orig as (...a: unknown[]) => boolean).call(st, chunk, ...rest);
        this.writer.clear();
        const ok = (orig as (...a: unknown[]) => boolean).call(st, chunk, ...rest);
        this.draw();
        return ok;
      }) as typeof st.write;
    }
    this.restore = (): void => {
      for (const [st, orig] of originals) st.write = orig;
      this.rawWrite = undefined;
    };
  }

  private elapsed(): number | undefined {
    if (!this.last) return undefined;
    const live = this.last.state === 'running' || this.last.state === 'stopping';
    return this.last.elapsedSeconds + (live ? Math.max(0, this.o.now() - this.receivedAt) / 1000 : 0);
  }

  private draw(): void {
    if (!this.writer || !this.last || this.stopped) return;
    this.lastDraw = this.o.now();
    this.writer(frameLines(this.last, { title: this.o.title, columns: this.columns, rows: this.rows, elapsedSeconds: this.elapsed() }).join('\n'));
  }
}
