/**
 * startServer: one Sig Server process (SPEC.md "Storage and processes"): opens the LogService (database,
 * keys, integrator), serves the express app on HOST:PORT, and shuts down gracefully.
 *
 * Run directly with `node --import tsx server/main.ts [--port 0 ...]` (flags and environment as in
 * server/config.ts); `sig server start` calls startServer the same way. On start it prints one structured
 * log line `{"msg": "listening", "url", "origin", "vkey", "openpgpFingerprint"}` and one human line
 * `sig server listening on <url>` on stderr (tests and scripts wait for that line).
 *
 * Shutdown order (SIGTERM/SIGINT, or close()): (1) stop taking work: new writes get 503 SHUTTING_DOWN
 * and the listener closes, so a load balancer moves to another process; (2) let in-flight requests
 * finish: a publish already accepted waits for its batch, which the still-running integrator completes;
 * (3) close the LogService (finishes any batch in progress, stops timers, closes the database). If the
 * process dies at any point in between, nothing acknowledged is lost: a receipt is only sent after its
 * entry and a checkpoint covering it are committed, and pending entries are integrated at the next start.
 */
import { realpathSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type Config, ConfigError, loadConfig, SETTINGS } from './config.js';
import { createApp } from './http/app.js';
import { LogService } from './log-service.js';
import { createLogger, type Logger } from './logger.js';
import { followConfiguredPeers } from './peers/followers.js';
import { openWitnessRole } from './witness/role.js';

/** ServerHandle is a running server. */
export interface ServerHandle {
  /** url is the base URL it listens on, e.g. http://127.0.0.1:8080 (no trailing slash). */
  url: string;
  service: LogService;
  /** close drains and stops the server, then closes the service; idempotent. */
  close(): Promise<void>;
}

/** StartOptions are for embedding (tests, the CLI). */
export interface StartOptions {
  /** logger replaces the stderr JSON logger built from config.logLevel. */
  logger?: Logger;
  /** quiet: do not print the human "listening" line. */
  quiet?: boolean;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE') {
        reject(
          new ConfigError(
            'PORT',
            `${host}:${port} is already in use: set PORT (--port) to a free port, or 0`,
          ),
        );
      } else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND' || err.code === 'EACCES') {
        reject(
          new ConfigError(
            'HOST',
            `cannot listen on ${host}:${port} (${err.code}): set HOST (--host) and PORT (--port)`,
          ),
        );
      } else {
        reject(err);
      }
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/**
 * startServer opens the LogService for `config`, listens on config.host:config.port (port 0 picks a free
 * one) and returns the URL, the service and close(). Throws ConfigError for an unusable address, and
 * whatever LogService.open throws (ServiceError SCHEMA_MISMATCH, IDENTITY_MISMATCH, CONFIG_INVALID) after
 * closing what it opened.
 */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<ServerHandle> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const service = await LogService.open({
    databaseUrl: config.databaseUrl,
    databaseReadUrl: config.databaseReadUrl,
    dataDir: config.dataDir,
    origin: config.origin,
    noteKeyFile: config.noteKeyFile,
    openpgpKeyFile: config.openpgpKeyFile,
    checkpointIntervalMs: config.checkpointIntervalMs,
    republishIntervalMs: config.republishIntervalMs,
    batchMaxSize: config.batchMaxSize,
    batchMaxAgeMs: config.batchMaxAgeMs,
    maxBacklog: config.maxBacklog,
    publishWaitMs: config.publishWaitMs,
    integrate: config.integrate,
    verifyWorkers: config.verifyWorkers,
    verifyBudgetMs: config.verifyBudgetMs,
    witnessPolicy: config.witnessPolicy,
    witnessFailOpen: config.witnessFailOpen,
    cosignLater: true,
    logger,
  });
  // The witness role (WITNESS_LOGS) keeps its state in the service's database.
  const witness = await openWitnessRole({
    config,
    db: service.db,
    origin: service.info().origin,
    logger,
  }).catch((err: unknown) => service.close().then(() => Promise.reject(err)));
  const { app, state } = createApp(service, config, logger, { witness });
  const server = createServer(app);
  server.keepAliveTimeout = 5000;
  try {
    await listen(server, config.port, config.host);
  } catch (err) {
    await service.close();
    throw err;
  }
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' || addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  announce(url, service.info(), config, logger, { quiet: opts.quiet, witness: witness?.info().vkey });

  // Witnesses are asked, and peers followed, once this server answers: a server may be its own witness,
  // and two servers that follow each other both start.
  await service.startCosigning();
  followConfiguredPeers(service, config, logger);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      logger.info('shutting down: draining requests');
      state.closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive connections that go idle after close() are closed as they go idle; past the
      // timeout, connections still busy are cut.
      const idle = setInterval(() => server.closeIdleConnections(), 100);
      const cut = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMs);
      try {
        await closed;
      } finally {
        clearInterval(idle);
        clearTimeout(cut);
      }
      logger.info('shutting down: closing the log service');
      await service.close();
      logger.info('stopped');
    })();
    return closing;
  };
  return { url, service, close };
}

/**
 * announce logs the structured `listening` line and, unless quiet, prints the human lines on stderr
 * (`sig server listening on <url>` first: tests and scripts wait for it), with the witness vkey when the
 * witness role is on.
 */
function announce(
  url: string,
  info: ReturnType<LogService['info']>,
  config: Config,
  logger: Logger,
  opts: { quiet?: boolean | undefined; witness?: string | undefined },
): void {
  logger.info('listening', {
    url,
    origin: info.origin,
    vkey: info.vkey,
    openpgpFingerprint: info.openpgpFingerprint,
    database: config.databaseUrl === undefined ? 'pglite' : 'postgres',
    readReplica: config.databaseReadUrl !== undefined,
    integrate: config.integrate,
    witness: opts.witness,
  });
  if (!opts.quiet) {
    process.stderr.write(
      `sig server listening on ${url}\n  origin:  ${info.origin}\n  vkey:    ${info.vkey}\n  openpgp: ${info.openpgpFingerprint}\n` +
        (opts.witness ? `  witness: ${opts.witness}\n` : ''),
    );
  }
}

/**
 * parseFlags returns the `--name value` / `--name=value` flags of `argv` named in SETTINGS (for running
 * this file directly). Throws ConfigError for an unknown flag or a missing value.
 */
export function parseFlags(argv: string[]): Record<string, string> {
  const options: Record<string, { type: 'string' }> = {};
  for (const s of SETTINGS) options[s.flag] = { type: 'string' };
  try {
    const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
    return values as Record<string, string>;
  } catch (err) {
    throw new ConfigError(
      'argv',
      `${(err as Error).message}; flags are: ${SETTINGS.map((s) => `--${s.flag}`).join(' ')}`,
    );
  }
}

/**
 * shutdownOnSignals is the one signal path of a server process (`sig server start` and this file run
 * directly): on the first SIGTERM or SIGINT it logs the signal, closes `handle` (drain, then close the
 * service: see the file comment for why dying at any point of it loses nothing acknowledged) and exits
 * 0, or logs the error and exits 1 if closing failed; a second signal exits 1 at once. The returned
 * promise never settles, so a command can await it to serve until the process ends.
 */
export function shutdownOnSignals(handle: ServerHandle, logger: Logger): Promise<never> {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      logger.warn('second signal: exiting without finishing', { signal });
      process.exit(1);
    }
    signalled = true;
    logger.info('signal received', { signal });
    handle.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return new Promise<never>(() => {});
}

function isMain(): boolean {
  const arg = process.argv[1];
  if (arg === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(arg)).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  try {
    const config = loadConfig(process.env, parseFlags(process.argv.slice(2)));
    const logger = createLogger(config.logLevel);
    const handle = await startServer(config, { logger });
    void shutdownOnSignals(handle, logger);
  } catch (err) {
    if (err instanceof ConfigError || (err instanceof Error && 'code' in err)) {
      process.stderr.write(`sig server: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
