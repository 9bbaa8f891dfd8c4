/**
 * @file Schemas shared by every route: the error body (one shape for all errors, see
 * src/errors.ts) and helpers that attach it to a route's `response` map, with a description and an
 * example per status so the OpenAPI document shows the failures too.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

/** `{statusCode, code, error, message, field}` (+ `request_id` on 5xx). */
const errorProperties = {
  statusCode: Type.Integer({ minimum: 400, maximum: 599 }),
  code: Type.String({ description: 'Stable machine-readable code, MRC_ERR_*', examples: ['MRC_ERR_VALIDATION'] }),
  error: Type.String({ description: 'HTTP reason phrase' }),
  message: Type.String({ description: 'What is wrong (generic "Internal Server Error" for unexpected 5xx)' }),
  field: Type.Union([Type.String(), Type.Null()], {
    description: 'Path of the offending input (e.g. `querystring.score_threshold`, `image`), or null',
  }),
  request_id: Type.Optional(Type.String({ description: '5xx only: the id of the request in the server log' })),
};
export const ErrorSchema = Type.Object(errorProperties, { title: 'Error', additionalProperties: false });
export type ErrorBody = Static<typeof ErrorSchema>;

const EXAMPLES: Record<number, { description: string; example: ErrorBody }> = {
  400: {
    description: 'Invalid input (query, multipart fields, JSON)',
    example: { statusCode: 400, code: 'MRC_ERR_VALIDATION', error: 'Bad Request', message: 'querystring/score_threshold must be <= 1', field: 'querystring.score_threshold' },
  },
  401: {
    description: 'No token, or an unknown or malformed one (`Authorization: Bearer <token>`; see WWW-Authenticate)',
    example: { statusCode: 401, code: 'MRC_ERR_UNAUTHORIZED', error: 'Unauthorized', message: 'This route needs a token: send Authorization: Bearer <token>', field: 'headers.authorization' },
  },
  403: {
    description: 'The token lacks the scope this route needs',
    example: { statusCode: 403, code: 'MRC_ERR_FORBIDDEN', error: 'Forbidden', message: 'This route needs the scope "evaluate"; token "ci" has "inference"', field: 'headers.authorization' },
  },
  429: {
    description: 'Too many requests for this token (or client address) in the rate-limit window (see Retry-After)',
    example: { statusCode: 429, code: 'MRC_ERR_RATE_LIMITED', error: 'Too Many Requests', message: 'Too many requests: 100 requests per 60 s for token "ci"; retry in 12 s', field: null },
  },
  404: {
    description: 'Unknown route',
    example: { statusCode: 404, code: 'MRC_ERR_NOT_FOUND', error: 'Not Found', message: 'Route GET /nope not found', field: null },
  },
  409: {
    description: 'Conflicts with the current state (e.g. the evaluation named is not done yet)',
    example: { statusCode: 409, code: 'MRC_ERR_JOB_NOT_DONE', error: 'Conflict', message: 'Evaluation "…" is running: only done evaluations can be used here', field: 'body.evaluation_id' },
  },
  413: {
    description: 'Upload larger than the configured limit, or image with too many pixels',
    example: { statusCode: 413, code: 'MRC_ERR_PAYLOAD_TOO_LARGE', error: 'Payload Too Large', message: 'Payload too large: more than 10485760 bytes (BODY_LIMIT)', field: 'body' },
  },
  415: {
    description: 'Content type (or image format) not accepted',
    example: { statusCode: 415, code: 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', error: 'Unsupported Media Type', message: 'Unsupported media type: text/plain', field: 'headers.content-type' },
  },
  422: {
    description: 'Well-formed request whose content cannot be used (corrupt image, invalid annotations)',
    example: { statusCode: 422, code: 'MRC_ERR_IMAGE_DECODE', error: 'Unprocessable Entity', message: 'Cannot decode image: PNG data is corrupt or truncated (vipspng: libpng read error)', field: 'image' },
  },
  500: {
    description: 'Unexpected server fault; quote request_id when reporting it',
    example: { statusCode: 500, code: 'MRC_ERR_INTERNAL', error: 'Internal Server Error', message: 'Internal Server Error', field: null, request_id: 'b1f0c2d4-0000-4000-8000-000000000000' },
  },
  503: {
    description: 'Model not ready yet, inference queue full, or shutting down (see Retry-After)',
    example: { statusCode: 503, code: 'MRC_ERR_QUEUE_FULL', error: 'Service Unavailable', message: 'Inference queue is full, retry later', field: null, request_id: 'b1f0c2d4-0000-4000-8000-000000000000' },
  },
};

/** Error responses for the given statuses, ready to spread into a route's `response`. */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const s of statuses) {
    const e = EXAMPLES[s];
    out[s] = Type.Object(errorProperties, {
      title: 'Error', additionalProperties: false, description: e?.description ?? 'Error', ...(e ? { examples: [e.example] } : {}),
    });
  }
  return out;
}
