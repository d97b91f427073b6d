/*
 * How many Bulk jobs may be in flight at once. `Aimd` grows by one after each clean job
 * and halves on a burst of lock errors or a 429/REQUEST_LIMIT_EXCEEDED, between 1 and the
 * bound (flag, profile, org). `fixed` strategies use a constant gate.
 */
export class ConcurrencyGate {
  private inFlight = 0;
  private readonly waiters: Array<() => void> = [];
  private cap: number;

  public constructor(
    private readonly max: number,
    initial: number,
    private readonly adaptive: boolean
  ) {
    this.cap = Math.max(1, Math.min(max, initial));
  }

  public get limit(): number {
    return Math.floor(this.cap);
  }

  public get active(): number {
    return this.inFlight;
  }

  public async acquire(): Promise<void> {
    while (this.inFlight >= this.limit) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.inFlight++;
  }

  public release(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.wake();
  }

  /** A job came back without transient errors: additive increase. */
  public onClean(): void {
    if (!this.adaptive) return;
    this.cap = Math.min(this.max, this.cap + 1);
    this.wake();
  }

  /** Lock-error burst or throttling: multiplicative decrease. */
  public onCongestion(): void {
    if (!this.adaptive) return;
    this.cap = Math.max(1, this.cap / 2);
  }

  /** Lower the bound, e.g. from the org's limits. */
  public clamp(max: number): void {
    this.cap = Math.max(1, Math.min(this.cap, max));
  }

  private wake(): void {
    let free = this.limit - this.inFlight;
    while (this.waiters.length && free-- > 0) this.waiters.shift()!();
  }
}
