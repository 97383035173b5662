#!/usr/bin/env node
// Entry point: parse flags, load config, run; map every failure to its exit code and one line.
import { parseCli, UsageError, USAGE } from './args.ts';
import { keyPaths, loadConfig } from '../app/config.ts';
import { EnvironmentError } from '../errors.ts';
import { PROBES } from '../app/registry.ts';
import { ConfigError } from '../config/load.ts';
import { envName } from '../config/schema.ts';
import { OTEL_ENV_READ_BY_EXPORTERS } from '../config/otel-env.ts';
import { createLogger, maskUrlCredentials, printable } from '../log.ts';
import { SERVICE_VERSION } from '../telemetry/resource.ts';
import { TelemetryStartError } from '../telemetry/otel.ts';

// The launchers start Node with --disable-sigusr1; a listener also keeps SIGUSR1 from opening
// the inspector when this file is run by a bare `node` (a debugger here would run code as root).
process.on('SIGUSR1', () => {});

const EXIT_OK = 0;
const EXIT_RUNTIME = 1;
const EXIT_USAGE = 2;

async function main(argv: string[]): Promise<number> {
  let verbose = argv.includes('-v') || argv.includes('--verbose');
  try {
    const cli = parseCli(argv);
    if (cli.help) {
      process.stdout.write(USAGE);
      return EXIT_OK;
    }
    if (cli.version) {
      process.stdout.write(`mem-watcher ${SERVICE_VERSION}\n`);
      return EXIT_OK;
    }
    // Probe flags select exactly those probes; the config's enabled keys decide otherwise.
    if (cli.probes.length > 0) {
      for (const p of PROBES) {
        if ('enabled' in p.config) cli.flags[`probes.${p.name}.enabled`] = cli.probes.includes(p.name);
      }
    }
    const loaded = loadConfig({ file: cli.configFile, flags: cli.flags, flagNames: cli.flagNames });
    verbose = loaded.config.verbose;
    if (cli.printConfig) {
      process.stdout.write(JSON.stringify(loaded.printable(), null, 2) + '\n');
      for (const path of keyPaths()) process.stderr.write(`# ${envName(path).padEnd(40)} ${path} (${loaded.origin(path)})\n`);
      for (const v of OTEL_ENV_READ_BY_EXPORTERS) {
        const value = process.env[v]?.trim();
        if (value) process.stderr.write(`# ${v.padEnd(40)} ${JSON.stringify(value)} (environment, read by the OTLP exporter)\n`);
      }
      return EXIT_OK;
    }
    const log = createLogger({ verbose, level: loaded.config.log.level });
    const { run } = await import('../app/run.ts');
    return await run({ config: loaded.config, log, stopSignal: stopSignal(log) });
  } catch (err) {
    const usage = err instanceof UsageError || err instanceof ConfigError || err instanceof EnvironmentError || err instanceof TelemetryStartError;
    process.stderr.write(`mem-watcher: ${printable(maskUrlCredentials((err as Error).message))}\n`);
    if (verbose && !usage) process.stderr.write(`${(err as Error).stack}\n`);
    return usage ? EXIT_USAGE : EXIT_RUNTIME;
  }
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once. */
function stopSignal(log: { warn(m: string): void }): Promise<string> {
  return new Promise((resolve) => {
    let count = 0;
    const on = (sig: NodeJS.Signals) => {
      count++;
      if (count > 1) {
        log.warn(`${sig} again: exiting without flushing`);
        process.exit(130);
      }
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
    // `mem-watcher | head`: the reader went away. Stop cleanly, as on a signal, instead of
    // dying on an unhandled EPIPE; later writes to the closed pipe are ignored.
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') resolve('stdout closed');
      else log.warn(`stdout: ${err.message}`);
    });
    // The log's reader going away is no reason to stop watching (and there is nowhere to say so).
    process.stderr.on('error', () => {});
  });
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Exporters' sockets may linger (keep-alive); nothing is left to do once main returned.
setTimeout(() => process.exit(code), 200).unref();
