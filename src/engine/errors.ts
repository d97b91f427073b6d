/*
 * Errors the engine raises on purpose: each names the problem and says how to fix it.
 * Commands turn them into SfErrors (name, message, actions) without rewording; `detail` (the
 * org's message, which may quote row values) stays in the run's files.
 */
export class LoadError extends Error {
  public constructor(
    /** Stable name, e.g. UnknownSourceColumn; becomes the JSON error name `${name}Error`. */
    public readonly code: string,
    message: string,
    public readonly actions: string[] = [],
    public readonly data?: Record<string, unknown>
  ) {
    super(message);
    this.name = code;
  }

  /**
   * The org's own words, when the message leaves them out (they can quote a row's values).
   * Written to the run's event log only, never to an error message or --json output.
   */
  public detail?: string;

  public withDetail(detail: string): this {
    this.detail = detail;
    return this;
  }
}
