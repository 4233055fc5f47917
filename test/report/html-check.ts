/**
 * A structural check of herald's generated HTML where no browser is at hand (Chromium is only in
 * CI): a doctype, every element closed in order (void elements excepted), attributes quoted,
 * unique ids, in-page links that land, no raw `<`/`&` in text, nothing fetched or run. Returns the
 * problems found, so a failing test prints them.
 */
const VOID = new Set(['meta', 'br', 'hr', 'img', 'input', 'link', 'col', 'wbr']);
const TAG = /<(\/?)([a-zA-Z][a-zA-Z0-9]*)((?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:="[^"]*")?)*)\s*(\/?)>/y;

export function checkHtml(html: string): string[] {
  const problems: string[] = [];
  if (!html.startsWith('<!doctype html>')) problems.push('no <!doctype html> first');
  if (/<script|<link|<iframe|src="http|href="http|url\(/i.test(html)) problems.push('something is fetched or run');
  const stack: string[] = [];
  const ids = new Set<string>();
  const anchors: string[] = [];
  let i = html.indexOf('>') + 1; // past the doctype
  while (i < html.length) {
    const lt = html.indexOf('<', i);
    const text = html.slice(i, lt === -1 ? html.length : lt);
    if (/&(?!#\d+;|[a-z]+;)/.test(text)) problems.push(`a bare & in text near "${text.slice(0, 40)}"`);
    if (lt === -1) break;
    TAG.lastIndex = lt;
    const m = TAG.exec(html);
    if (!m) {
      problems.push(`not a well-formed tag at ${lt}: "${html.slice(lt, lt + 40)}"`);
      break;
    }
    const [whole, closing, rawName, attrs, selfClosing] = m;
    const name = rawName!.toLowerCase();
    for (const [, attr, value] of attrs!.matchAll(/([-a-zA-Z0-9_:.]+)(?:="([^"]*)")?/g)) {
      if (attr === 'id') {
        if (ids.has(value ?? '')) problems.push(`duplicate id "${value}"`);
        ids.add(value ?? '');
      }
      if (attr === 'href' && value?.startsWith('#')) anchors.push(value.slice(1));
      if (value?.includes('<')) problems.push(`a raw < in attribute ${attr}`);
    }
    if (closing) {
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> closes <${open ?? 'nothing'}>`);
    } else if (!VOID.has(name) && !selfClosing) {
      stack.push(name);
    }
    i = lt + whole!.length;
  }
  if (stack.length > 0) problems.push(`never closed: ${stack.join(' > ')}`);
  for (const a of anchors) if (!ids.has(a)) problems.push(`link to #${a}, which is not on the page`);
  return problems;
}
