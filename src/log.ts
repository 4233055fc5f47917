/**
 * pino, to stderr (stdout carries reports and the `--json` summary). Secret paths are listed once
 * and redacted; phone numbers are masked by the code that logs them (maskPhone).
 */
import pino from 'pino';

export type Logger = pino.Logger;

/** Every config path that can hold a secret, wherever it appears in a logged object. */
export const SECRET_PATHS = [
  'access_token', 'app_secret', 'verify_token', 'api_key', 'webhook_secret', 'api_token', 'password', 'authorization',
  '*.access_token', '*.app_secret', '*.verify_token', '*.api_key', '*.webhook_secret', '*.api_token', '*.password',
  '*.authorization', 'headers.authorization', '*.headers.authorization',
];

export function createLogger(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino({
    level: options.level ?? process.env.HERALD_LOG_LEVEL ?? 'info',
    base: { app: 'herald' },
    redact: { paths: SECRET_PATHS, censor: '[redacted]' },
  }, options.destination ?? pino.destination({ fd: 2, sync: true }));
}

export const silentLogger: Logger = pino({ level: 'silent' });
