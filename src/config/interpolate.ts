/**
 * `${VAR}` and `${VAR:-default}` interpolation over parsed YAML values. Secrets only ever come
 * from the environment this way; files never hold them.
 */

const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** A `${VAR}` that had no value and no default, with where it was. */
export interface MissingVariable {
  path: string;
  variable: string;
}

export interface Interpolated<T> {
  value: T;
  missing: MissingVariable[];
}

/**
 * With `retype`, a value that is one placeholder and nothing else takes the type YAML would give
 * the text (`${RATE:-80}` is the number 80), so the schema checks values as written.
 */
export function interpolate<T>(value: T, env: NodeJS.ProcessEnv, options: { retype?: boolean } = {}): Interpolated<T> {
  const missing: MissingVariable[] = [];
  const walk = (v: unknown, at: string): unknown => {
    if (typeof v === 'string') {
      const whole = options.retype === true && new RegExp(`^${PLACEHOLDER.source}$`).test(v);
      const text = v.replace(PLACEHOLDER, (_match, name: string, fallback: string | undefined) => {
        const set = env[name];
        if (set !== undefined && set !== '') return set;
        if (fallback !== undefined) return fallback;
        missing.push({ path: at, variable: name });
        return '';
      });
      return whole ? retype(text) : text;
    }
    if (Array.isArray(v)) return v.map((item, i) => walk(item, join(at, String(i))));
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, walk(item, join(at, k))]));
    }
    return v;
  };
  return { value: walk(value, '') as T, missing };
}

function retype(text: string): unknown {
  if (/^[+-]?(\d+\.?\d*|\.\d+)$/.test(text)) return Number(text);
  if (text === 'true' || text === 'false') return text === 'true';
  return text;
}

function join(base: string, key: string): string {
  return base ? `${base}.${key}` : key;
}
