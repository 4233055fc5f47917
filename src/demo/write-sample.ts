/** Writes the sample segment as the CSV a CDP would export. */
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { once } from 'node:events';
import { stringify } from 'csv-stringify';
import { sampleSegment } from './sample-segment.js';

export async function writeSampleCsv(file: string, rows: number, seed = 7): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  const out = createWriteStream(file);
  const csv = stringify({ header: true, columns: ['customer_id', 'phone', 'first_name', 'points', 'expires_on', 'coupon_path', 'whatsapp_opt_in', 'planted'] });
  csv.pipe(out);
  for (const row of sampleSegment(rows, seed)) {
    if (!csv.write(row)) await once(csv, 'drain');
  }
  csv.end();
  await once(out, 'finish');
}
