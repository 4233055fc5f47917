/** A jobs folder as `herald serve` reads it: a valid sandbox job over generated numbers, and a broken one. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const phone = (i: number) => `+1201555${String(100 + i).padStart(4, '0')}`;

/** `welcome_api` over `rows` rows (+ `extra` YAML), and `broken_job` with an unknown key. */
export function writeJobs(dir: string, rows: number, extra = ''): void {
  mkdirSync(dir, { recursive: true });
  const values = Array.from({ length: rows }, (_, i) => `('k${i}', '${phone(i)}', 'Name ${i}', 'yes')`).join(', ');
  writeFileSync(join(dir, 'welcome.yaml'), `
name: welcome_api
source: { query: "SELECT * FROM (VALUES ${values}) t(k, phone, name, ok)" }
audience: { key: k, phone: phone, default_region: US, consent: ok }
message: { provider: sandbox, sender: "15550001234", template: { name: hello, language: en_US }, body: [ { column: name } ] }
delivery: { rate_per_second: 200 }
${extra}`);
  writeFileSync(join(dir, 'broken.yaml'), 'name: broken_job\nsource: { query: "select 1" }\naudiance: {}\n');
}
