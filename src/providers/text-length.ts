/**
 * One way to measure a value against WhatsApp's length limits, used where render checks a row and
 * where a payload is built: UTF-16 code units (`text.length`). Counted in code points, an
 * emoji-heavy value herald accepted was refused by Meta (131009); in UTF-16 units an emoji counts
 * 2, never less than any provider counts it, so a value herald passes is not refused for length.
 */

/** WhatsApp's limits on template parameters and free-form text (shared/reference/meta-cloud-api.md). */
export const TEXT_LIMITS = { headerText: 60, bodyParam: 1024, freeText: 4096 } as const;

/** `${what} is N UTF-16 units; …` when `text` is over `limit`, else null. */
export function overLimit(what: string, text: string, limit: number): string | null {
  return text.length > limit ? `${what} is ${text.length} UTF-16 units; the provider's limit is ${limit}` : null;
}
