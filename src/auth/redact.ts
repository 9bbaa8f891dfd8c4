/**
 * @file What the logger never writes: credentials in request headers. pino replaces these paths
 * with "[redacted]" wherever a log line carries them (a request object logged with its headers,
 * an error carrying the request, a custom serializer). The service itself never logs headers nor
 * tokens; this is the net under that rule. docs/security.md, "What is logged".
 */
import type { FastifyServerOptions } from 'fastify';

export const LOG_REDACT = {
  paths: [
    'req.headers.authorization', 'req.headers.cookie', 'req.headers["proxy-authorization"]',
    'request.headers.authorization', 'headers.authorization', 'headers.cookie', 'authorization',
    '*.headers.authorization', '*.*.headers.authorization',
  ],
  censor: '[redacted]',
};

/** The logger option with {@link LOG_REDACT} added (unless it is off, a logger instance, or sets its own). */
export function withRedaction(logger: FastifyServerOptions['logger']): FastifyServerOptions['logger'] {
  if (logger === undefined || logger === null || typeof logger !== 'object') return logger;
  if ('redact' in logger) return logger;
  return { ...logger, redact: LOG_REDACT };
}
