/**
 * The WABA's templates (`GET /{version}/{waba-id}/message_templates`, followed page by page through
 * `paging.cursors.after` while `paging.next` is present) in the provider-neutral shape that
 * pre-flight checks compare a job against. Management endpoints allow about 200 calls per hour:
 * pages are large and the listing is read once per command.
 */
import type { HttpClient } from '../http.js';
import type { ProviderTemplate } from '../provider.js';
import { describeGraphError, graphError, metaErrorAction, MetaApiError } from './meta.errors.js';
import type { MetaTemplate, MetaTemplateComponent, MetaTemplateList } from './meta.wire.js';

const FIELDS = 'name,language,status,category,quality_score,parameter_format,components';
const PAGE_SIZE = 100;
/** A runaway cursor must not loop for ever: 100 pages is 10,000 templates. */
const MAX_PAGES = 100;
const HEADER_FORMATS = new Set(['TEXT', 'IMAGE', 'VIDEO', 'DOCUMENT', 'LOCATION']);

export async function listMetaTemplates(http: HttpClient, version: string, wabaId: string): Promise<ProviderTemplate[]> {
  const templates: ProviderTemplate[] = [];
  let after: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query = new URLSearchParams({ fields: FIELDS, limit: String(PAGE_SIZE), ...(after ? { after } : {}) });
    const list = await getPage(http, `/${version}/${encodeURIComponent(wabaId)}/message_templates?${query}`);
    templates.push(...(list.data ?? []).map(toProviderTemplate));
    const next = list.paging?.cursors?.after;
    if (!list.paging?.next || !next || next === after) return templates;
    after = next;
  }
  throw new MetaApiError(`listing templates of WABA ${wabaId} did not end after ${MAX_PAGES} pages`, 'paging', 'permanent');
}

async function getPage(http: HttpClient, path: string): Promise<MetaTemplateList> {
  const r = await http.request('GET', path);
  if (r.kind !== 'response') throw new MetaApiError(`listing templates failed: ${r.detail}`, 'network', 'retry');
  const error = graphError(r.json);
  if (error) {
    throw new MetaApiError(`listing templates failed with Meta error ${error.code}: ${describeGraphError(error, r.status)}`, String(error.code), metaErrorAction(error.code), r.status);
  }
  const data = (r.json as MetaTemplateList | undefined)?.data;
  if (r.status !== 200 || !Array.isArray(data)) {
    const snippet = r.text.replace(/\s+/g, ' ').trim().slice(0, 200) || '(empty body)';
    throw new MetaApiError(`listing templates: unexpected HTTP ${r.status} answer: ${snippet}`, `http:${r.status}`, r.status >= 500 ? 'retry' : 'permanent', r.status);
  }
  return r.json as MetaTemplateList;
}

export function toProviderTemplate(t: MetaTemplate): ProviderTemplate {
  const components = t.components ?? [];
  const find = (type: string) => components.find((c) => c.type.toUpperCase() === type);
  const namedFormat = t.parameter_format?.toUpperCase() === 'NAMED';
  const result: ProviderTemplate = {
    name: t.name,
    language: t.language,
    status: t.status,
    body: placeholders(find('BODY')?.text, namedFormat),
    buttons: (find('BUTTONS')?.buttons ?? []).map((b, index) => ({ index, type: b.type, dynamic: isDynamicButton(b) })),
  };
  if (t.category) result.category = t.category;
  if (typeof t.quality_score?.score === 'string') result.quality = t.quality_score.score;
  const header = find('HEADER');
  const format = header?.format?.toUpperCase();
  if (header && format && HEADER_FORMATS.has(format)) {
    result.header = {
      format: format as NonNullable<ProviderTemplate['header']>['format'],
      // A media or location header always takes its one parameter (the media, the place).
      ...(format === 'TEXT' ? placeholders(header.text, namedFormat) : { parameters: 1, named: [] }),
    };
  }
  return result;
}

/** `{{1}}` … or `{{first_name}}` …: distinct placeholders; names only for named templates. */
function placeholders(text: string | undefined, namedFormat: boolean): { parameters: number; named: string[] } {
  const names = [...new Set([...(text ?? '').matchAll(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g)].map((m) => m[1]!))];
  const named = namedFormat || names.some((n) => !/^\d+$/.test(n));
  return { parameters: names.length, named: named ? names : [] };
}

function isDynamicButton(b: NonNullable<MetaTemplateComponent['buttons']>[number]): boolean {
  switch (b.type.toUpperCase()) {
    case 'URL':
      return /\{\{\s*1\s*\}\}/.test(b.url ?? '');
    case 'QUICK_REPLY': // the payload can be set per message
    case 'COPY_CODE': // the code is a parameter of every send
      return true;
    default:
      return false;
  }
}
