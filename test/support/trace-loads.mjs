// node --import this-file: records every file: module the process loads, one
// URL a line, in the file named by ACCT_TRACE_LOADS.
import { register } from 'node:module';
import { appendFileSync } from 'node:fs';

const out = process.env.ACCT_TRACE_LOADS;
const hooks = `
  import { appendFileSync } from 'node:fs';
  let out;
  export function initialize(data) { out = data.out; }
  export async function load(url, context, next) {
    if (out && url.startsWith('file:')) appendFileSync(out, url + '\\n');
    return next(url, context);
  }`;
if (out) {
  appendFileSync(out, '');
  register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: { out } });
}
