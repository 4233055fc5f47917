/** Builds the provider a job names from the runtime config. The only place that knows every vendor. */
import { ConfigError } from '../errors.js';
import { providerSection, requireSection, type LoadedConfig } from '../config/load.js';
import type { ProviderName } from '../config/runtime.schema.js';
import type { EventSink, Provider } from './provider.js';
import { SandboxProvider } from './sandbox/sandbox.provider.js';

export interface ProviderDeps {
  events: EventSink;
}

export function createProvider(name: ProviderName, loaded: LoadedConfig, deps: ProviderDeps, jobFile: string): Provider {
  requireSection(loaded, providerSection(name));
  switch (name) {
    case 'sandbox':
      return new SandboxProvider(loaded.config.providers.sandbox, deps.events);
    case 'meta':
    case 'infobip':
    case 'ada':
      throw ConfigError.of(jobFile, 'message.provider', `the ${name} adapter is not in this version of herald yet`,
        'use provider: sandbox to try a job end to end');
  }
}
