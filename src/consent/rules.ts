/**
 * What in an inbound message is an opt-out or an opt-in (DESIGN "Consent"): a whole message that is
 * one of the configured keywords, or a quick-reply tap whose payload is in the configured lists.
 * "Please stop by the shop" is not an opt-out; "stop", " STOP " and full-width "ＳＴＯＰ" are.
 */
import type { ConsentConfig } from '../config/runtime.schema.js';
import { ConsentConfigSchema } from '../config/runtime.schema.js';

export type ConsentChange = 'opted_out' | 'opted_in';

export interface ConsentRules {
  /** The change an inbound text or quick-reply payload asks for, or null. */
  classify(input: { text?: string | null; payload?: string | null }): { change: ConsentChange; how: 'keyword' | 'quick_reply' } | null;
}

/** NFKC (full-width → ASCII), trimmed, lower case, trailing punctuation dropped ("STOP." is STOP). */
export function normalizeKeyword(s: string): string {
  return s.normalize('NFKC').trim().replace(/[\s.!。！、,]+$/u, '').trim().toLowerCase();
}

export function consentRules(config: ConsentConfig = ConsentConfigSchema.parse({})): ConsentRules {
  const words = (byLanguage: Record<string, string[]>) => new Set(Object.values(byLanguage).flat().map(normalizeKeyword).filter(Boolean));
  const outWords = words(config.opt_out_keywords);
  const inWords = words(config.opt_in_keywords);
  const outPayloads = new Set(config.opt_out_payloads.map((p) => p.trim()));
  const inPayloads = new Set(config.opt_in_payloads.map((p) => p.trim()));
  return {
    classify({ text, payload }) {
      if (payload) {
        const p = payload.trim();
        if (outPayloads.has(p)) return { change: 'opted_out', how: 'quick_reply' };
        if (inPayloads.has(p)) return { change: 'opted_in', how: 'quick_reply' };
      }
      if (text) {
        const t = normalizeKeyword(text);
        // Opt-out wins when a word is in both lists: the safe side of a misconfiguration.
        if (outWords.has(t)) return { change: 'opted_out', how: 'keyword' };
        if (inWords.has(t)) return { change: 'opted_in', how: 'keyword' };
      }
      return null;
    },
  };
}
