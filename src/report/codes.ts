/**
 * What each reason and error code in a report means and what to do about it: herald's own reasons
 * (herald.sends.reason), Meta Cloud API error codes and Infobip statuses (as `provider:<code>`, or
 * the bare code a failed status carries). A table, not prose in the renderers, so the text, HTML
 * and CSV forms say the same; a code not here is still listed, with "no explanation known".
 */

export interface CodeExplanation {
  /** One line: what happened. */
  meaning: string;
  /** One line: what the operator or analyst can do. */
  action: string;
}

export const NO_EXPLANATION = 'no explanation known';

const e = (meaning: string, action: string): CodeExplanation => ({ meaning, action });

/** herald's own reasons: decided before (or instead of) a send. */
const HERALD: Record<string, CodeExplanation> = {
  invalid_phone: e('the phone column is not a valid number for its region', 'fix the number in the source, or set audience.default_region'),
  not_mobile: e('the number is a landline or another type WhatsApp cannot reach', 'reach these customers through another channel'),
  invalid_user_id: e('the user id column is not a well-formed business-scoped user id (BSUID)', 'check the column holds BSUIDs from webhooks (CC.digits)'),
  missing_key: e('the row has no value in the audience key column', 'fix the segment SQL so every row has a key'),
  missing_variable: e('a template variable\'s column is empty on this row', 'fill the column, or give the variable a default in the job'),
  invalid_variable: e('a template variable\'s value is not valid for its type', 'fix the column\'s values (numbers, dates, currency) in the source'),
  variable_too_long: e('a template variable is longer than WhatsApp accepts', 'shorten the column\'s values in the segment SQL'),
  no_consent: e('the consent column does not say yes for this row', 'nothing: the customer did not opt in'),
  opted_out: e('the recipient opted out (a webhook, a 131050 answer or an import)', 'nothing: herald.suppressions keeps them out of every job'),
  already_sent: e('an earlier run of the job already sent this row', 'nothing: nobody is messaged twice; use a new dedupe window to send again'),
  duplicate_in_segment: e('the segment returned this key (or phone) more than once', 'deduplicate in the segment SQL if the repeats are unintended'),
  failed_earlier: e('the recipient failed permanently in an earlier run', 'nothing: tried again after delivery.retry_failed_after'),
  earlier_outcome_unknown: e('an earlier run may have sent it; its outcome is unknown', 'wait for webhooks, or run with --resend-unknown'),
  outside_window: e('free-form text outside the 24 h customer service window', 'send an approved template instead'),
  quiet_hours: e('the recipient\'s local time is inside the job\'s quiet hours', 'nothing: a later run sends it'),
  marketing_not_delivered_in_country: e('Meta does not deliver marketing templates to numbers of this country', 'use a utility template, or another channel, for this country'),
  messaging_limit: e('over the portfolio\'s messaging limit (unique users per 24 h)', 'nothing: a later run sends it; raise the limit by keeping quality high'),
  not_before: e('an earlier run was told not to send before its not_before', 'nothing: a run after that time sends it'),
  never_accepted: e('the provider never saw the request (no webhook came)', 'nothing: the next run sends it'),
  outcome_unknown: e('the request may have reached the provider; no answer came', 'wait for webhooks to settle it, or run with --resend-unknown'),
  settled_by_webhook: e('the outcome was unknown until a webhook showed the provider took it', 'nothing'),
};

/** Meta Cloud API error codes (developers.facebook.com, "Error codes"). */
const META: Record<string, CodeExplanation> = {
  131026: e('message undeliverable: not a WhatsApp user, old app, or terms not accepted', 'do not retry soon; reach them through another channel'),
  131049: e('Meta held it back to keep per-user marketing engagement healthy (fatigue)', 'nothing: herald defers the send 24 h; send marketing less often'),
  131050: e('the user stopped marketing messages from this business', 'nothing: herald suppresses them; do not send marketing again'),
  131047: e('more than 24 h since the user last wrote: free-form message refused', 'send an approved template instead'),
  130472: e('the user is in a Meta marketing-message experiment group', 'nothing: not billed; a later send may go through'),
  131021: e('the recipient is the sending business number itself', 'remove the business\'s own number from the segment'),
  131008: e('a required template parameter is missing', 'map every template variable in the job (herald validate)'),
  131009: e('a parameter value is not valid (e.g. a bad URL or number)', 'fix the column\'s value for these rows'),
  131000: e('Meta: something went wrong', 'retry later; if it persists, contact Meta support'),
  131016: e('Meta service temporarily unavailable', 'run again later (the rows stay pending)'),
  131031: e('the business account is locked', 'resolve it in WhatsApp Manager before sending'),
  131042: e('a payment problem on the business account', 'fix the payment method in Business Manager'),
  131045: e('the phone number\'s certificate is wrong (not registered)', 'register the sender number again'),
  131048: e('spam rate limit: too many users blocked or reported recent messages', 'slow down and improve the message\'s relevance'),
  131051: e('unsupported message type', 'use a supported message type'),
  131052: e('Meta could not download the media', 'check the media URL is public and the file type allowed'),
  131053: e('Meta could not upload the media', 'check the file\'s type and size'),
  131056: e('too many messages to this recipient in a short time (pair rate)', 'nothing: herald spaces them; retry later'),
  131057: e('the business account is in maintenance mode', 'wait; herald pauses the sender'),
  130429: e('over the number\'s throughput (messages per second)', 'nothing: herald slows down; lower delivery.rate_per_second'),
  130497: e('the business may not message users in this country', 'remove that country from the segment'),
  132000: e('the number of template parameters does not match the template', 'match the job\'s body variables to the approved template'),
  132001: e('the template does not exist in this language (or is not approved)', 'check the template name and language (herald templates list)'),
  132005: e('the template\'s text with its parameters is too long', 'shorten the parameter values'),
  132007: e('the text breaks the template\'s formatting policy', 'remove newlines, tabs or runs of spaces from parameters'),
  132012: e('a parameter does not have the format the template expects', 'match the header/body parameter types to the template'),
  132015: e('the template is paused for low quality', 'edit the template or wait for Meta to unpause it'),
  132016: e('the template is disabled for low quality', 'create a new template'),
  133010: e('the sender number is not registered on the Cloud API', 'register the number before sending'),
  368: e('the account is temporarily blocked for a policy violation', 'check Business Support Home for the violation'),
  190: e('the access token expired or was revoked', 'issue a new system-user token'),
};

/** Infobip message statuses and groups (Infobip "Response status and error codes"). */
const INFOBIP: Record<string, CodeExplanation> = {
  REJECTED_DND: e('the destination is on a do-not-disturb list', 'nothing: herald suppresses it'),
  REJECTED_NOT_ENOUGH_CREDITS: e('the Infobip account has no credit left', 'top up the account, then resume the run'),
  REJECTED_PREPAID_PACKAGE_EXPIRED: e('the Infobip prepaid package expired', 'renew the package, then resume the run'),
  REJECTED_ROUTE_NOT_AVAILABLE: e('Infobip has no route for this traffic on the account', 'ask Infobip to enable the route'),
  REJECTED_SOURCE: e('the sender is not allowed on this account', 'check the sender number with Infobip'),
  REJECTED_SENDER: e('the sender is not allowed on this account', 'check the sender number with Infobip'),
  REJECTED_SYSTEM_ERROR: e('Infobip system error', 'run again later'),
  REJECTED_MESSAGE_TOO_LONG: e('this row\'s message is too long', 'shorten the column\'s values'),
  UNDELIVERABLE: e('Infobip could not deliver the message', 'check the number; reach them another way'),
  UNDELIVERABLE_NOT_DELIVERED: e('the message was not delivered to the handset', 'check the number; reach them another way'),
  UNDELIVERABLE_REJECTED_OPERATOR: e('the network (WhatsApp) rejected the message', 'check the number and the template'),
  EXPIRED: e('no delivery report came before the message expired', 'the handset was likely off; a later send may go through'),
  EXPIRED_EXPIRED: e('the message expired before it was delivered', 'the handset was likely off; a later send may go through'),
  REJECTED: e('Infobip rejected the message', 'see the error detail in the failed rows CSV'),
};

/**
 * The explanation of a reason (`no_consent`, `provider:131026`, `provider:REJECTED_DND`) or a bare
 * code (`131026`), or null when none is known. 1320xx codes not listed share one template explanation.
 */
export function explain(reason: string | null | undefined): CodeExplanation | null {
  if (!reason) return null;
  if (HERALD[reason]) return HERALD[reason];
  const code = reason.startsWith('provider:') ? reason.slice('provider:'.length) : reason;
  if (code.includes('messaging_limit')) return HERALD.messaging_limit!;
  const known = META[code] ?? INFOBIP[code];
  if (known) return known;
  if (/^132\d{3}$/.test(code)) return e('a template problem (Meta 132000-series)', 'check the template and the job\'s mapping (herald validate)');
  return null;
}

/** "meaning — action", or "no explanation known". */
export function explanationLine(reason: string | null | undefined): string {
  const x = explain(reason);
  return x ? `${x.meaning} — ${x.action}` : NO_EXPLANATION;
}
