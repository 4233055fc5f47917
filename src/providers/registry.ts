/** Builds the provider a job names from the runtime config. The only place that knows every vendor. */
import { ConfigError } from '../errors.js';
import { providerSection, requireSection, type LoadedConfig } from '../config/load.js';
import type { Dispatcher } from 'undici';
import type { Job } from '../config/job.schema.js';
import type { ProviderName } from '../config/runtime.schema.js';
import type { EventSink, Provider } from './provider.js';
import { SandboxProvider } from './sandbox/sandbox.provider.js';

export interface ProviderDeps {
  events: EventSink;
  /** The job's message section, for per-job options (Infobip urlOptions); absent for `templates list`. */
  message?: Job['message'];
  /** Provider HTTP goes through this when given (undici MockAgent or a test server's Pool). */
  dispatcher?: Dispatcher;
  /** `HERALD_PUBLIC_URL`: where providers reach `herald serve` (Infobip notifyUrl). */
  publicUrl?: string;
}

export function createProvider(name: ProviderName, loaded: LoadedConfig, deps: ProviderDeps, jobFile: string): Provider {
  requireSection(loaded, providerSection(name));
  switch (name) {
    case 'sandbox':
      return new SandboxProvider(loaded.config.providers.sandbox, deps.events);
    case 'meta':
      throw notYet(name, jobFile);
    case 'infobip':
      throw notYet(name, jobFile);
    case 'ada':
      throw notYet(name, jobFile);
  }
}

function notYet(name: string, jobFile: string): ConfigError {
  return ConfigError.of(jobFile, 'message.provider', `the ${name} adapter is not in this version of herald yet`, 'use provider: sandbox to try a job end to end');
}
