/** Builds the provider a job names from the runtime config. The only place that knows every vendor. */
import type { LoadedConfig, LoadedJob } from '../config/load.js';
import type { Dispatcher } from 'undici';
import type { Job } from '../config/job.schema.js';
import type { ProviderName } from '../config/runtime.schema.js';
import type { EventSink, Provider } from './provider.js';
import { MetaProvider } from './meta/meta.provider.js';
import { SandboxProvider } from './sandbox/sandbox.provider.js';
import { createAdaProvider } from './ada/ada.provider.js';
import { createInfobipProvider } from './infobip/infobip.provider.js';

export interface ProviderDeps {
  events: EventSink;
  /** The job's message section, for per-job options (Infobip urlOptions); absent for `templates list`. */
  message?: Job['message'];
  /** Provider HTTP goes through this when given (undici MockAgent or a test server's Pool). */
  dispatcher?: Dispatcher;
  /** `HERALD_PUBLIC_URL`: where providers reach `herald serve` (Infobip notifyUrl). */
  publicUrl?: string;
}

/**
 * Each adapter requires the settings it uses and names the variable when one is unset, so an
 * unset webhook secret never stops sending.
 */
export function createProvider(name: ProviderName, loaded: LoadedConfig, deps: ProviderDeps, jobFile: string): Provider {
  switch (name) {
    case 'sandbox':
      return new SandboxProvider(loaded.config.providers.sandbox, deps.events);
    case 'meta':
      return new MetaProvider(loaded.config.providers.meta, { configFile: loaded.file, phoneNumberId: deps.message?.sender, dispatcher: deps.dispatcher });
    case 'infobip':
      return createInfobipProvider(loaded, deps);
    case 'ada':
      return createAdaProvider(loaded, deps, jobFile);
  }
}

/** The provider a job names, its events landed by `events`, Infobip's notifyUrl from `server.public_url`. */
export function createJobProvider(loaded: LoadedJob, config: LoadedConfig, events: EventSink): Provider {
  const publicUrl = config.config.server.public_url;
  return createProvider(loaded.job.message.provider, config, { events, message: loaded.job.message, ...(publicUrl ? { publicUrl } : {}) }, loaded.file);
}
