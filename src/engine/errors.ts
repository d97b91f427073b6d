/*
 * Errors the engine raises on purpose: each names the problem and says how to fix it.
 * Commands turn them into SfErrors (name, message, actions) without rewording.
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
}
