/** `herald templates list --provider meta|infobip [--sender ID] [--refresh] [--json]` */
import { loadConfig } from '../config/load.js';
import type { ProviderName } from '../config/runtime.schema.js';
import { ConfigError } from '../errors.js';
import { hasTemplates, templateAccount } from '../preflight/template-check.js';
import { approvedTemplates } from '../preflight/template-cache.js';
import { createProvider } from '../providers/registry.js';

const LISTING = ['meta', 'infobip'] as const;

export async function templatesCommand(positionals: string[], flags: Record<string, unknown>): Promise<number> {
  if (positionals[0] !== 'list' || positionals.length > 1) throw ConfigError.of('herald templates', '', 'the subcommand is "list"', 'herald templates list --provider meta');
  const name = flags.provider as string | undefined;
  if (!name || !(LISTING as readonly string[]).includes(name)) {
    throw ConfigError.of('--provider', '', `give --provider ${LISTING.join(' or ')}`, 'ada has no template listing; sandbox has no templates');
  }
  const config = loadConfig();
  const sender = typeof flags.sender === 'string' ? flags.sender : undefined;
  const provider = createProvider(name as ProviderName, config, { events: async () => undefined, ...(sender ? { message: { sender } as never } : {}) }, config.file);
  try {
    if (!hasTemplates(provider)) throw ConfigError.of('--provider', '', `${name} cannot list templates`);
    const { templates, fromCache } = await approvedTemplates(provider, templateAccount(name as ProviderName, config.config, sender), { refresh: flags.refresh === true });
    if (flags.json === true) {
      console.log(JSON.stringify(templates, null, 2));
      return 0;
    }
    for (const t of templates) {
      const header = t.header ? ` header ${t.header.format}${t.header.parameters ? `(${t.header.named.join(',') || t.header.parameters})` : ''}` : '';
      const body = t.body.named.length > 0 ? t.body.named.join(',') : String(t.body.parameters);
      const buttons = t.buttons.length > 0 ? ` buttons ${t.buttons.map((b) => `${b.index}:${b.type}${b.dynamic ? '*' : ''}`).join(' ')}` : '';
      console.log(`${t.name.padEnd(32)} ${t.language.padEnd(6)} ${t.status.padEnd(9)} ${(t.category ?? '').padEnd(14)} body ${body}${header}${buttons}`);
    }
    console.error(`${templates.length} templates${fromCache ? ' (cached; --refresh to fetch again)' : ''}; * = takes a value`);
    return 0;
  } finally {
    await provider.close();
  }
}
