/** What commands share: the loaded config, the job's warehouse, and a provider whose events land. */
import { loadConfig, loadJob, warehouseUrl, type LoadedConfig, type LoadedJob } from '../config/load.js';
import { eventSink } from '../events/event.js';
import type { Provider } from '../providers/provider.js';
import { createJobProvider } from '../providers/registry.js';
import { bindSegmentSql } from '../pipeline/segment.js';
import { openWarehouse } from '../warehouse/open.js';
import type { Warehouse } from '../warehouse/warehouse.js';

export interface JobContext {
  config: LoadedConfig;
  loaded: LoadedJob;
  wh: Warehouse;
  provider: Provider;
  close(): Promise<void>;
}

/** A job validated and its provider built, its warehouse not opened yet (nothing touched). */
export interface PreparedJob {
  config: LoadedConfig;
  loaded: LoadedJob;
  provider: Provider;
  /** Opens (and migrates) the job's warehouse; the provider's events land in it from then on. */
  open(): Promise<JobContext>;
}

/** Everything is validated before the warehouse is opened, so a bad job touches nothing. */
export function prepareJobContext(jobFile: string): PreparedJob {
  const config = loadConfig();
  const loaded = loadJob(jobFile);
  const url = warehouseUrl(config, loaded.job.source.warehouse, jobFile);
  bindSegmentSql(loaded); // a missing :param is a usage error: raise it before anything is opened
  // The provider lands its events in the warehouse, which is opened last.
  let opened: Warehouse | undefined;
  const events = eventSink(() => opened!);
  const provider = createJobProvider(loaded, config, events.land);
  return {
    config, loaded, provider,
    async open() {
      const wh = (opened = await openWarehouse(url));
      return {
        config, loaded, wh, provider,
        async close() {
          try {
            await provider.close();
            await events.idle();
          } finally {
            await wh.close();
          }
        },
      };
    },
  };
}

export async function openJobContext(jobFile: string): Promise<JobContext> {
  return prepareJobContext(jobFile).open();
}

export async function openDefaultWarehouse(name = 'default'): Promise<Warehouse> {
  const config = loadConfig();
  return openWarehouse(warehouseUrl(config, name));
}
