// Build: validate and normalize the built-in catalog with the same schema that
// checks user-added apps, then bundle src/ into one ES module (dist/acct.js).
import { build } from 'esbuild';
import { readFileSync, writeFileSync, mkdirSync, existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

async function buildCatalog() {
  const cache = join(root, 'node_modules', '.cache', 'acct');
  mkdirSync(cache, { recursive: true });
  const schemaFile = join(cache, 'schema.mjs');
  await build({ entryPoints: [join(root, 'src/catalog/schema.ts')], bundle: true, platform: 'node', format: 'esm', outfile: schemaFile, logLevel: 'error' });
  const { appDefinition } = await import(`${schemaFile}?${Date.now()}`);
  const apps = [];
  const problems = [];
  for (const file of ['oauth.json', 'keys.json']) {
    const path = join(root, 'src/catalog/apps', file);
    if (!existsSync(path)) continue;
    for (const raw of JSON.parse(readFileSync(path, 'utf8'))) {
      const result = appDefinition.safeParse(raw);
      if (!result.success) problems.push(`${file} ${raw.slug}: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      else apps.push(result.data);
    }
  }
  const slugs = new Set();
  for (const a of apps) {
    if (slugs.has(a.slug)) problems.push(`duplicate slug ${a.slug}`);
    slugs.add(a.slug);
  }
  if (problems.length) {
    console.error(`the built-in catalog is invalid:\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  apps.sort((a, b) => a.slug.localeCompare(b.slug));
  writeFileSync(join(root, 'src/catalog/builtin.generated.json'), JSON.stringify(apps));
  return apps.length;
}

const count = await buildCatalog();
// A fresh dist/ each time, so no chunk of an earlier build lingers.
rmSync(join(root, 'dist'), { recursive: true, force: true });
const result = await build({
  // One entry file; what only some commands need (prompts, tables, colours,
  // HTTP, OAuth) is split into chunks loaded on first use, so `acct token`
  // parses a fraction of the code.
  entryPoints: { acct: join(root, 'src/main.ts') },
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  minify: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir: join(root, 'dist'),
  // The keyring is a native addon: it stays a runtime dependency.
  external: ['@napi-rs/keyring'],
  banner: { js: "import { createRequire as __acctRequire } from 'node:module'; const require = __acctRequire(import.meta.url);" },
  define: { __VERSION__: JSON.stringify(pkg.version) },
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});
// Which sources each output holds: the start-up test uses it to prove that
// `acct token` loads no prompt, colour or HTTP code.
const outputs = Object.fromEntries(
  Object.entries(result.metafile.outputs).map(([file, o]) => [file.replace(/^dist\//, ''), Object.keys(o.inputs)]),
);
writeFileSync(join(root, 'dist', 'outputs.json'), JSON.stringify(outputs, null, 1));
console.error(`built dist/acct.js (${count} built-in apps)`);
