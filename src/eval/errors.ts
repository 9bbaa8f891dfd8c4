/**
 * Errors raised by the pure cores (src/eval, src/losses) for invalid user data.
 * The HTTP layer maps an InputError to a 4xx JSON error whose `field` is `path`
 * (a JSON path into the request, e.g. `ground_truth.annotations[3].segmentation.counts`).
 */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(
    /** JSON path of the offending input. */
    readonly path: string,
    message: string,
    /** Suggested HTTP status (400 malformed, 413 too large, 422 semantically invalid). */
    readonly statusCode: 400 | 413 | 422 = 422,
  ) {
    super(message);
  }
}

/** A non-fatal problem the response reports (pycocotools-defined behaviour, skipped items). */
export interface Warning {
  path: string;
  message: string;
}
