/**
 * @file Process entry: loadConfig (env + CLI flags) → buildApp → listen; graceful shutdown.
 *
 * The server listens before the model is loaded: /health/live answers at once and /health/ready
 * says 503 until load + warm-up are done. A model that cannot load (missing file, sha256 mismatch,
 * bad manifest, CUDA requested but unavailable) ends the process with exit code 1 and the reason;
 * so does a job store that cannot be opened at all (a corrupt SQLite file: the message names it).
 * Once the model is ready, jobs left unfinished by a previous process resume by themselves.
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

// A configuration file read at start-up (TOKENS_FILE) can be invalid too: the same exit as a bad variable.
const app = await buildApp(config, { waitForModel: false }).catch((err: unknown) => {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(2);
});

installShutdown({
  delayMs: config.shutdownTimeoutMs,
  log: app.log,
  close: () => app.close(),
  force: () => app.models.abandon(),
  exit: (code) => process.exit(code),
});

try {
  await app.listen({ port: config.port, host: config.host });
} catch (err) {
  app.log.fatal({ err }, 'cannot listen');
  await app.close().catch(() => undefined);
  process.exit(1);
}

// The job store opens in the background (retried while the database is unavailable); a store that
// cannot be opened at all (a corrupt SQLite file, a schema from a newer version) ends the process.
app.jobStore.opened.catch(async (err: unknown) => {
  const message = `job store cannot be opened: ${(err as Error).message}`;
  app.log.fatal({ err }, message);
  process.stderr.write(`${message}\n`);
  await app.close().catch(() => undefined);
  process.exit(1);
});

app.models.loaded.then(
  () => app.log.info({ model: app.models.default.name, provider: app.models.default.session?.provider }, 'ready'),
  async (err: unknown) => {
    app.log.fatal({ err }, `model failed to load: ${(err as Error).message}`);
    await app.close().catch(() => undefined);
    process.exit(1);
  },
);
