/**
 * Template pre-flight: the job's message mapping against the template the provider approved,
 * before any send. Every difference is one Problem naming the job field and what the template
 * expects, so a wrong mapping stops the run (exit 2) instead of failing row after row.
 */
import type { Job } from '../config/job.schema.js';
import type { Problem } from '../errors.js';
import type { ProviderName, RuntimeConfig } from '../config/runtime.schema.js';
import type { Provider, ProviderTemplate } from '../providers/provider.js';
import { approvedTemplates } from './template-cache.js';

export function checkTemplate(job: Job, jobFile: string, templates: readonly ProviderTemplate[]): Problem[] {
  const { template, body, header, buttons } = job.message;
  if (!template) return []; // free-form text has no template to check
  const problem = (path: string, message: string, hint?: string): Problem => ({ file: jobFile, path, message, ...(hint ? { hint } : {}) });
  const sameName = templates.filter((t) => t.name === template.name);
  if (sameName.length === 0) {
    return [problem('message.template.name', `the provider has no template "${template.name}"`, closest(template.name, templates))];
  }
  const found = sameName.find((t) => sameLanguage(t.language, template.language));
  if (!found) {
    return [problem('message.template.language', `template "${template.name}" has no "${template.language}" version`,
      `its languages: ${sameName.map((t) => t.language).join(', ')}`)];
  }
  const problems: Problem[] = [];
  if (found.status.toUpperCase() !== 'APPROVED') {
    problems.push(problem('message.template', `template "${template.name}" (${found.language}) is ${found.status}, not APPROVED`,
      found.status.toUpperCase() === 'PAUSED' ? 'Meta paused it for low quality; run again once it is reinstated (or use another template)' : 'only approved templates can be sent'));
  }
  problems.push(...categoryProblems(job, found, problem));

  // Body: how many parameters, and named or positional as the template was made.
  const jobNames = body.map((p) => p.name).filter((n): n is string => n !== undefined);
  if (found.body.named.length > 0) {
    if (jobNames.length !== body.length) {
      problems.push(problem('message.body', `template "${template.name}" takes named parameters (${found.body.named.join(', ')}); give each body parameter a name`));
    } else {
      const missing = found.body.named.filter((n) => !jobNames.includes(n));
      const unknown = jobNames.filter((n) => !found.body.named.includes(n));
      if (missing.length > 0) problems.push(problem('message.body', `the template's parameter${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ha${missing.length > 1 ? 've' : 's'} no value in the job`));
      if (unknown.length > 0) problems.push(problem('message.body', `the template has no parameter${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`, `its parameters: ${found.body.named.join(', ')}`));
    }
  } else {
    if (jobNames.length > 0) problems.push(problem('message.body', `template "${template.name}" takes positional parameters ({{1}}, {{2}} …); remove the names`));
    if (body.length !== found.body.parameters) {
      problems.push(problem('message.body', `the job gives ${body.length} body parameter${body.length === 1 ? '' : 's'}, template "${template.name}" takes ${found.body.parameters}`));
    }
  }

  // Header: the same kind, and a value when the template has a placeholder or media.
  const jobHeader = header ? (Object.keys(header)[0] as 'text' | 'image' | 'video' | 'document') : undefined;
  const wanted = found.header && found.header.parameters > 0 ? found.header.format.toLowerCase() : undefined;
  if (jobHeader && !wanted) {
    problems.push(problem('message.header', found.header ? `the template's ${found.header.format} header has no parameter; remove message.header` : 'the template has no header; remove message.header'));
  } else if (wanted && jobHeader !== wanted) {
    problems.push(problem('message.header', jobHeader ? `the template's header is ${found.header!.format}, the job gives ${jobHeader}` : `the template's ${found.header!.format} header needs a value`,
      `set message.header.${wanted}`));
  }

  // Buttons: each job button where the template has one of that kind that takes a value, and
  // every dynamic button of the template given a value.
  for (const [i, b] of buttons.entries()) {
    const t = found.buttons.find((x) => x.index === b.index);
    const kind = b.url_suffix ? 'URL' : 'QUICK_REPLY';
    if (!t) problems.push(problem(`message.buttons.${i}`, `the template has no button at index ${b.index}`, `its buttons: ${describeButtons(found)}`));
    else if (t.type.toUpperCase() !== kind) problems.push(problem(`message.buttons.${i}`, `button ${b.index} is ${t.type}, the job gives a ${b.url_suffix ? 'url_suffix' : 'quick_reply_payload'}`));
    else if (!t.dynamic) problems.push(problem(`message.buttons.${i}`, `button ${b.index} (${t.type}) takes no parameter; remove it from the job`));
  }
  for (const t of found.buttons) {
    if (t.dynamic && t.type.toUpperCase() === 'URL' && !buttons.some((b) => b.index === t.index)) {
      problems.push(problem('message.buttons', `the template's URL button ${t.index} needs a url_suffix`));
    }
  }
  return problems;
}

type MakeProblem = (path: string, message: string, hint?: string) => Problem;

/**
 * What the template's category means for the job: Meta re-categorises templates after approval
 * (a utility template billed as marketing costs several times more), the Marketing Messages API
 * takes marketing templates only, and authentication templates cannot go to a BSUID (131062).
 */
function categoryProblems(job: Job, found: ProviderTemplate, problem: MakeProblem): Problem[] {
  const category = found.category?.toLowerCase();
  if (!category) return [];
  const problems: Problem[] = [];
  const declared = job.message.category;
  if (declared && declared !== category) {
    problems.push(problem('message.category', `the job declares ${declared}, but the provider now files template "${found.name}" under ${found.category}`,
      category === 'marketing' ? 'Meta re-categorised it: marketing is billed at several times the utility rate; set message.category: marketing to accept that, or use a template approved as utility'
        : `set message.category: ${category} if that is intended`));
  }
  if (job.message.provider === 'meta' && job.message.meta?.api === 'marketing_messages' && category !== 'marketing') {
    problems.push(problem('message.meta.api', `the Marketing Messages API sends marketing templates only; template "${found.name}" is ${found.category}`,
      'use api: auto (marketing templates through it, others through /messages) or api: messages'));
  }
  if (job.audience.user_id && category === 'authentication') {
    problems.push(problem('audience.user_id', `template "${found.name}" is an authentication template, which Meta does not send to a business-scoped user id (error 131062)`,
      'send authentication templates by phone: remove audience.user_id'));
  }
  return problems;
}

/** Meta writes `en_US`, Infobip `en_US` or `en`; the job may say either. */
export function sameLanguage(a: string, b: string): boolean {
  return a.replace('-', '_').toLowerCase() === b.replace('-', '_').toLowerCase();
}

function describeButtons(t: ProviderTemplate): string {
  return t.buttons.length === 0 ? 'none' : t.buttons.map((b) => `${b.index} ${b.type}${b.dynamic ? ' (takes a value)' : ''}`).join(', ');
}

function closest(name: string, templates: readonly ProviderTemplate[]): string | undefined {
  const names = [...new Set(templates.map((t) => t.name))];
  const near = names.filter((n) => n.includes(name) || name.includes(n) || n.replace(/_/g, '') === name.replace(/_/g, ''));
  return near.length > 0 ? `did you mean ${near.slice(0, 3).map((n) => `"${n}"`).join(' or ')}?` : names.length > 0 ? `known: ${names.slice(0, 8).join(', ')}${names.length > 8 ? ' …' : ''}` : undefined;
}

/** What pre-flight found: the problems, and the template as the provider has it now (when it could list them). */
export interface Preflight {
  problems: Problem[];
  template?: ProviderTemplate;
}

/** The job's templates checked against the provider's, when the provider can list them. */
export async function preflight(job: Job, jobFile: string, provider: Provider, account: string, options: { refresh?: boolean } = {}): Promise<Preflight> {
  if (!hasTemplates(provider)) return { problems: [] };
  const { templates } = await approvedTemplates(provider, account, options);
  const problems = checkTemplate(job, jobFile, templates);
  const wanted = job.message.template;
  const template = wanted && templates.find((t) => t.name === wanted.name && sameLanguage(t.language, wanted.language));
  return { problems, ...(template ? { template } : {}) };
}

/** The category the run sends in: the job's word, else the template's as the provider files it now. */
export function runCategory(job: Job, template: ProviderTemplate | undefined): string | null {
  return job.message.category ?? template?.category?.toLowerCase() ?? null;
}

export function hasTemplates(provider: Provider): provider is Provider & { listTemplates(): Promise<ProviderTemplate[]> } {
  return typeof provider.listTemplates === 'function';
}

/** What tells one provider account from another, for the template cache (hashed, never shown). */
export function templateAccount(name: ProviderName, config: RuntimeConfig, sender?: string): string {
  return JSON.stringify([name, config.providers[name], sender ?? null]);
}
