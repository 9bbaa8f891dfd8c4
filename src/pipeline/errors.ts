/**
 * @file Typed errors of the per-image pipeline (decode → session → postprocess), see src/failure.ts:
 * what is wrong with an uploaded image, and what the inference pool could not do. src/errors.ts
 * maps them to HTTP statuses (image errors 4xx, a full queue 503 + Retry-After, a failed run 500).
 */
import { Failure, type FailureOptions } from '../failure.js';

/** No bytes where an image was expected. */
export class EmptyImageError extends Failure {
  override readonly name = 'EmptyImageError';
  readonly code = 'MRC_ERR_EMPTY_BODY';
  constructor(field: string) {
    super(`Request body is empty: no image bytes in ${field}`, { field });
  }
}

/** The bytes are not a JPEG, PNG or WebP image. */
export class NotAnImageError extends Failure {
  override readonly name = 'NotAnImageError';
  readonly code = 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE';
  constructor(field: string) {
    super('Unsupported media type: the data is not a JPEG, PNG or WebP image', { field });
  }
}

/** More pixels than MAX_IMAGE_PIXELS (checked from the header, before decoding). */
export class ImageTooLargeError extends Failure {
  override readonly name = 'ImageTooLargeError';
  readonly code = 'MRC_ERR_IMAGE_TOO_LARGE';
  constructor(maxPixels: number, options: FailureOptions) {
    super(`Image too large: more than ${maxPixels} pixels (MAX_IMAGE_PIXELS)`, options);
  }
}

/** Corrupt or truncated image data. */
export class ImageDecodeError extends Failure {
  override readonly name = 'ImageDecodeError';
  readonly code = 'MRC_ERR_IMAGE_DECODE';
  constructor(detail: string, options: FailureOptions) {
    super(`Cannot decode image: ${detail}`, options);
  }
}

/** A valid image the model cannot take (e.g. so elongated its resize gives a 0-pixel side). */
export class ImageUnsupportedError extends Failure {
  override readonly name = 'ImageUnsupportedError';
  readonly code = 'MRC_ERR_IMAGE_UNSUPPORTED';
  constructor(detail: string, options: FailureOptions) {
    super(`The model cannot process this image: ${detail}`, options);
  }
}

/** The inference pool is full (workers + QUEUE_SIZE); retry after `retryAfter` seconds. */
export class QueueFullError extends Failure {
  override readonly name = 'QueueFullError';
  readonly code = 'MRC_ERR_QUEUE_FULL';
  constructor(readonly retryAfterSeconds: number) {
    super('Inference queue is full, retry later', { retryAfter: retryAfterSeconds });
  }
}

/**
 * The pool takes no work: it is closing (`closing` true: the server shuts down), or no worker is
 * available while a dead one is being replaced (`closing` false: the model is briefly not ready).
 */
export class PoolClosedError extends Failure {
  override readonly name = 'PoolClosedError';
  readonly code: string;
  /** What the pool said (logs); the message is the fixed text users see. */
  readonly detail: string;
  constructor(detail: string, readonly closing = true) {
    super(closing ? 'Server is shutting down' : 'Model is not loaded or not warmed up yet', closing ? {} : { retryAfter: 2 });
    this.code = closing ? 'MRC_ERR_SHUTTING_DOWN' : 'MRC_ERR_MODEL_NOT_READY';
    this.detail = detail;
  }
}

/** The graph failed on this input (bad shapes, runtime error) or the worker died mid-run. */
export class InferenceRunError extends Failure {
  override readonly name = 'InferenceRunError';
  readonly code = 'MRC_ERR_INFERENCE';
}
