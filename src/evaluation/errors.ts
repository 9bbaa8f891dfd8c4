/**
 * @file Typed errors of the evaluation use cases (src/failure.ts): a model-mode upload whose parts
 * are missing, repeated, unexpected, too large or not JSON; an uploaded file that matches no
 * annotated image. src/errors.ts maps them to 400 / 413 with the part's name as `field`.
 */
import { Failure } from '../failure.js';

/** A missing, repeated or unexpected part of a multipart upload. */
export class MultipartError extends Failure {
  override readonly name = 'MultipartError';
  readonly code = 'MRC_ERR_MULTIPART';
  constructor(message: string, field: string) {
    super(message, { field });
  }
}

/** A part, or all parts together, beyond a size or count limit (the message names the variable). */
export class UploadTooLargeError extends Failure {
  override readonly name = 'UploadTooLargeError';
  readonly code = 'MRC_ERR_PAYLOAD_TOO_LARGE';
  constructor(detail: string, field: string) {
    super(`Payload too large: ${detail}`, { field });
  }
}

/** A JSON part that does not parse. */
export class InvalidJsonError extends Failure {
  override readonly name = 'InvalidJsonError';
  readonly code = 'MRC_ERR_INVALID_JSON';
  constructor(detail: string, field: string) {
    super(`Body is not valid JSON: ${detail}`, { field });
  }
}
