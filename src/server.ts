/**
 * @file Process entry: loadConfig (env + CLI flags) → buildApp → listen; graceful shutdown.
 *
 * The server listens before the model is loaded: /health/live answers at once and /health/ready
 * says 503 until load + warm-up are done. A model that cannot load (missing file, sha256 mismatch,
 * bad manifest, CUDA requested but unavailable) ends the process with exit code 1 and the reason.
 * On SIGTERM/SIGINT/SIGHUP (src/shutdown.ts): stop accepting connections, answer 503 to requests
 * that still arrive on open connections, let in-flight requests and inferences finish, exit 0; a
 * second signal or SHUTDOWN_TIMEOUT_MS forces exit 1 (queued requests get 503, the inference in
 * progress is allowed to end first: exiting inside session.run() would abort the process).
 * Logger choice never depends on NODE_ENV.
 *
 *   node dist/src/server.js [--port 8080] [--model-name shapes] [--execution-provider cpu] ...
 */
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { installShutdown } from './shutdown.js';

let config: Config;
try {
  config = loadConfig(process.env, process.argv.slice(2));
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  throw err;
}

const app = await buildApp(config, { waitForModel: false });

installShutdown({
  delayMs: config.shutdownTimeoutMs,
  log: app.log,
  close: () => app.close(),
  force: () => app.model.abandon(),
  exit: (code) => process.exit(code),
});

try {
  await app.listen({ port: config.port, host: config.host });
} catch (err) {
  app.log.fatal({ err }, 'cannot listen');
  await app.close().catch(() => undefined);
  process.exit(1);
}

app.model.loaded.then(
  () => app.log.info({ model: app.model.files?.manifest.name, provider: app.model.session?.provider }, 'ready'),
  async (err: unknown) => {
    app.log.fatal({ err }, `model failed to load: ${(err as Error).message}`);
    await app.close().catch(() => undefined);
    process.exit(1);
  },
);
