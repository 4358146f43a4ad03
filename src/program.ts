// The command tree, declared here and nowhere else; each action loads its
// command module on demand so `acct token` never loads prompts, tables,
// colours or HTTP. cli.ts runs it.
import { Argument, Command, Option } from 'commander';
import type { Context } from './context.js';
import { VERSION } from './version.js';
import { FAST, type Declared } from './commands/declared.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];
/** Repeatable options have no default (help would show "default: []"): an option never given becomes []. */
const lists = <T extends object, K extends string>(opts: T, ...names: K[]) =>
  ({ ...opts, ...Object.fromEntries(names.map((n) => [n, (opts as Record<string, unknown>)[n] ?? []])) }) as T & Record<K, string[]>;

export { CommanderError } from 'commander';

export type Loader = (ctx: Context) => Promise<void | number>;

/** A command from its one declaration (commands/declared.ts), which the plain parser builds from too. */
function fromDeclared(program: Command, d: Declared, run: (loader: Loader) => Promise<void>): void {
  const cmd = program.command(d.name).description(d.description);
  if (d.alias) cmd.alias(d.alias);
  for (const a of d.args) cmd.argument(`<${a.name}${a.variadic ? '...' : ''}>`, a.description);
  for (const o of d.options) {
    const option = new Option(`--${o.name}${o.value ? ` <${o.value}>` : ''}`, o.description);
    if (o.choices) option.choices(o.choices);
    cmd.addOption(o.default === undefined ? option : option.default(o.default));
  }
  cmd.action((...given: unknown[]) => run((c) => d.run(c, given.slice(0, d.args.length).flat() as string[], given[d.args.length] as Record<string, unknown>)));
}

/**
 * The command tree. With `only` (the command a command line names), just that
 * command is built: building all of them is a few milliseconds of every run
 * that commander parses (`acct exec`, `acct env`, …), and one command parses,
 * helps and fails the same alone as among the others (a test compares each
 * command's help both ways). Without `only`, or when it names no command
 * (then commander's suggestion needs every name), or for `acct completion`,
 * the whole tree.
 */
export function buildProgram(ctx: Context, run: (loader: Loader) => Promise<void>, afterDashDash: string[] = [], only?: string, opts: { json?: boolean } = {}): Command {
  // `acct completion` prints a script of the whole tree.
  const whole = only === undefined || only === 'completion';
  const wanted = (...names: (string | undefined)[]) => whole || names.includes(only);
  const program = new Command('acct')
    .description('Connect your accounts at third-party services and hand out fresh credentials.')
    .version(VERSION, '-V, --version')
    // With --json a parse error is one JSON object, which cli.ts writes from the error commander throws: commander writes nothing.
    // Both set before the subcommands are added, so they inherit them.
    .showHelpAfterError(opts.json ? false : '(run acct --help for usage)')
    .configureOutput(opts.json ? { outputError: () => undefined } : {})
    .configureHelp({ sortSubcommands: false })
    // Set before the subcommands are added, so they inherit it: a bad option throws (exit 2) instead of exiting 1.
    .exitOverride()
    // Options after a subcommand belong to it: `acct apps show github --json`.
    .enablePositionalOptions();

  const json = () => new Option('--json', 'print one JSON value');
  // Commands that change the local store; with ACCT_BUNDLE the accounts are read-only.
  const change = (loader: Loader) =>
    run(async (c) => {
      c.store.assertWritable();
      return loader(c);
    });

  // How credentials are collected, shared by connect and reconnect.
  const credentialOptions = (cmd: Command) =>
    cmd
      .option('--stdin', 'read the key (or a JSON object of fields) from stdin')
      .option('--from-env <field=VAR>', 'read a field from an environment variable (repeatable)', collect)
      .option('--scope <scope>', 'extra OAuth scope (repeatable)', collect)
      .option('--no-verify', "store without running the app's test request")
      .option('--no-check', "skip the app's key shape checks")
      .option('--no-browser', 'OAuth: print the URL instead of opening a browser')
      .option('--manual', 'OAuth: paste the URL the browser ended on (remote shells)')
      .option('--device', 'OAuth: use the device grant')
      .option('--client-credentials', "OAuth: a machine-to-machine token for the client itself (no browser)")
      .option('--setting <name=value>', "a connection setting of the app: subdomain, tenant, region, … (repeatable)", collect)
      .option('--timeout <seconds>', 'OAuth: how long to wait for approval', '300')
      .addOption(json());

  if (wanted('connect')) {
    credentialOptions(
      program
        .command('connect')
        .description('connect an account (OAuth in the browser, or API keys)')
        .argument('<app>', 'app slug, e.g. github, openai')
        .option('--nickname <name>', 'name for the account (default: the identity the service reports)')
        .option('--team <team>', "a team's account (private to you until you share it), in a team this machine joined"),
    ).action((app, opts) => change(async (c) => (await import('./commands/connect.js')).connect(c, app, lists(opts, 'fromEnv', 'scope', 'setting'))));
  }

  if (wanted('reconnect')) {
    credentialOptions(
      program
        .command('reconnect')
        .description('connect again: same id and nickname, new credentials')
        .argument('<ref>', 'account reference')
        .option('--allow-identity-change', 'take the new credentials even when they are of another user than the account'),
    ).action((ref, opts) => change(async (c) => (await import('./commands/connect.js')).reconnect(c, ref, lists(opts, 'fromEnv', 'scope', 'setting'))));
  }

  if (wanted(FAST.list!.name, FAST.list!.alias)) {
    fromDeclared(program, FAST.list!, run);
  }

  if (wanted('show')) {
    program
      .command('show')
      .description('show one account; values masked unless --reveal')
      .argument('<ref>', 'account reference')
      .option('--reveal', 'print secret values')
      .addOption(json())
      .action((ref, opts) => run(async (c) => (await import('./commands/show.js')).show(c, ref, opts)));
  }

  if (wanted('rename')) {
    program
      .command('rename')
      .description("change an account's nickname")
      .argument('<ref>', 'account reference')
      .argument('<nickname>', 'new nickname')
      .addOption(json())
      .action((ref, nickname, opts) => change(async (c) => (await import('./commands/manage.js')).rename(c, ref, nickname, opts)));
  }

  if (wanted('default')) {
    program
      .command('default')
      .description("make an account its app's default; with an app slug, show it")
      .argument('<ref>', 'account reference, or an app slug to show its default')
      .option('--unset', "clear the app's default (an app slug with several accounts is then ambiguous)")
      .addOption(json())
      .action((ref, opts) => run(async (c) => (await import('./commands/manage.js')).setDefault(c, ref, opts)));
  }

  if (wanted('delete', 'rm')) {
    program
      .command('delete')
      .alias('rm')
      .description('revoke at the provider where possible, then delete locally')
      .argument('<ref>', 'account reference')
      .option('-y, --yes', 'do not ask for confirmation')
      .option('--keep-remote', 'skip revocation at the provider')
      .addOption(json())
      .action((ref, opts) => change(async (c) => (await import('./commands/manage.js')).remove(c, ref, opts)));
  }

  if (wanted(FAST.token!.name, FAST.token!.alias)) {
    fromDeclared(program, FAST.token!, run);
  }

  if (wanted('test')) {
    program
      .command('test')
      .description("run the app's test request with an account")
      .argument('<ref>', 'account reference')
      .addOption(json())
      .action((ref, opts) => run(async (c) => (await import('./commands/test.js')).test(c, ref, opts)));
  }

  if (wanted('request')) {
    program
      .command('request')
      .description("send an HTTP request with an account's credentials (the app's base URL and auth)")
      .argument('<ref>', 'account reference')
      .argument('<path>', "path under the app's API base URL, or a full URL on its API host")
      .option('-X, --request <method>', 'HTTP method (default GET, or POST with data)')
      .option('-H, --header <header>', 'extra header "Name: value" (repeatable)', collect)
      .option('-d, --data <data>', 'request body; @file or - for stdin; JSON is detected (repeatable, joined with &)', collect)
      .option('-G, --get', 'put the data in the query string of a GET')
      .option('-i, --include', 'print the status line and headers before the body')
      .option('--fail-ok', 'exit 0 even when the response status is 400 or above')
      .option('--allow-host', "allow a full URL on a host other than the app's API host")
      .option('-L, --location', 'follow redirects; credentials go only to the first origin')
      .option('--max-redirs <n>', 'redirects to follow at most with -L (default 10)')
      .option('--paginate', 'follow the next pages (Link rel="next", or the app\'s cursor) and print one JSON array')
      .option('--jq <filter>', 'print what a jq filter selects from the JSON answer (strings raw)')
      .addOption(json().conflicts('include'))
      .action((ref, path, opts) =>
        run(async (c) => (await import('./commands/request.js')).request(c, ref, path, { ...lists(opts, 'data'), method: opts.request, headers: opts.header ?? [] })),
      );
  }

  if (wanted('status')) {
    program
      .command('status')
      .description('every account: ok, expired, needs-reconnect, unverified, failing; --check runs their test requests')
      .option('--check', "run each account's test request (network)")
      .option('--app <slug>', 'only accounts of this app')
      .option('--concurrency <n>', 'test requests at once with --check', '8')
      .addOption(json())
      .action((opts) => run(async (c) => (await import('./commands/status.js')).status(c, opts)));
  }

  if (wanted('client')) {
    const client = program.command('client').description('the OAuth client (id and secret) acct uses for an app');
    client
      .command('set')
      .description('set the OAuth client for an app; the secret comes from a hidden prompt or stdin')
      .argument('<app>', 'app slug')
      .option('--client-id <id>', 'the client id')
      .option('--secret-stdin', 'read the client secret from stdin')
      .option('--no-secret', 'a public client (no secret)')
      .option('--team <team>', "the team's client, which every member refreshes its accounts with")
      .action((slug, opts) => change(async (c) => (await import('./commands/client.js')).setClient(c, slug, { ...opts, noSecret: opts.secret === false })));
    client
      .command('show')
      .description('show the OAuth client for an app (never its secret)')
      .argument('<app>', 'app slug')
      .option('--team <team>', "the team's client")
      .addOption(json())
      .action((slug, opts) => run(async (c) => (await import('./commands/client.js')).showClient(c, slug, opts)));
    client
      .command('remove')
      .description('forget the OAuth client for an app')
      .argument('<app>', 'app slug')
      .action((slug) => change(async (c) => (await import('./commands/client.js')).deleteClient(c, slug)));
  }

  // Team stores on PostgreSQL (src/team/): membership, and sharing team accounts.
  if (wanted('team')) {
    const team = program.command('team').description('teams on PostgreSQL: create, invite, join, add-ci, members, trust, set, remove, upgrade');
    team
      .command('create')
      .description('create a team in a PostgreSQL database (its schema too); you become its first admin')
      .argument('<name>', 'the team name, which qualifies its accounts: <name>:<app>/<nickname>')
      .argument('<url>', 'postgres://user@host/database, without a password (PGPASSWORD or ~/.pgpass); ?sslmode=verify-full for TLS')
      .option('--member <name>', 'your member name (default: $USER)')
      .addOption(json())
      .action((name, url, opts) => run(async (c) => (await import('./commands/team.js')).create(c, name, url, opts)));
    team
      .command('invite')
      .description('invite a member: prints a one-time invitation code')
      .argument('<team>', 'team name')
      .requiredOption('--name <member>', "the new member's name")
      .option('--admin', 'make the member an admin')
      .option('--expires <duration>', 'how long the code works: 30m, 12h, 7d (default 7d, at most 90d)')
      .addOption(json())
      .action((name, opts) => run(async (c) => (await import('./commands/team.js')).invite(c, name, opts)));
    team
      .command('join')
      .description("join a team with an invitation code; your member key stays in this machine's store")
      .argument('<url>', 'the team database, postgres://host/database (no password)')
      .option('--code-stdin', 'read the invitation code from stdin (preferred: argv is visible to other processes)')
      .option('--code <code>', 'the invitation code')
      .option('--as <name>', 'the name this machine gives the team (default: its own)')
      .addOption(json())
      .action((url, opts) => run(async (c) => (await import('./commands/team.js')).join(c, url, opts)));
    team
      .command('add-ci')
      .description('add a CI member: prints its ACCT_TEAM_KEY once')
      .argument('<team>', 'team name')
      .requiredOption('--name <member>', 'the CI member name, e.g. deploy')
      .addOption(json())
      .action((name, opts) => run(async (c) => (await import('./commands/team.js')).addCi(c, name, opts)));
    team
      .command('members')
      .description("a team's members")
      .argument('<team>', 'team name')
      .addOption(json())
      .action((name, opts) => run(async (c) => (await import('./commands/team.js')).members(c, name, opts)));
    team
      .command('trust')
      .description("trust the version of a team's signed roster an admin gives the fingerprint of (a machine that joined before signed rosters)")
      .argument('<team>', 'team name')
      .argument('<fingerprint>', "16 hex digits, as acct team members shows them on an admin's machine")
      .addOption(json())
      .action((name, fingerprint, opts) => run(async (c) => (await import('./commands/team.js')).trust(c, name, fingerprint, opts)));
    team
      .command('set')
      .description("a team's settings: shown, and changed by an admin")
      .argument('<team>', 'team name')
      .option('--offline-tokens <on|off>', "members' machines keep the access tokens they read, sealed, for while the database is unreachable (off by default)")
      .addOption(json())
      .action((name, opts) => run(async (c) => (await import('./commands/team.js')).set(c, name, opts)));
    team
      .command('upgrade')
      .description("bring a team database's schema up to date, as the role that created it")
      .argument('<url>', 'postgres://user@host/database, without a password (PGPASSWORD or ~/.pgpass)')
      .addOption(json())
      .action((url, opts) => run(async (c) => (await import('./commands/team.js')).upgrade(c, url, opts)));
    team
      .command('remove')
      .description('remove a member: re-keys what they could read and lists the accounts to rotate')
      .argument('<team>', 'team name')
      .argument('<member>', 'member name or id')
      .addOption(json())
      .action((name, member, opts) => run(async (c) => (await import('./commands/team.js')).remove(c, name, member, opts)));
  }
  if (wanted('share')) {
    program
      .command('share')
      .description('let a member, or the whole team, read a team account')
      .argument('<ref>', 'team account: <team>:<ref>')
      .requiredOption('--with <member>', 'a member name, or "team"')
      .addOption(json())
      .action((ref, opts) => run(async (c) => (await import('./commands/team.js')).share(c, ref, opts)));
  }
  if (wanted('unshare')) {
    program
      .command('unshare')
      .description('take a member\'s (or the whole team\'s) access to a team account away, under a new key')
      .argument('<ref>', 'team account: <team>:<ref>')
      .requiredOption('--with <member>', 'a member name, or "team"')
      .addOption(json())
      .action((ref, opts) => run(async (c) => (await import('./commands/team.js')).unshare(c, ref, opts)));
  }

  if (wanted('agent')) {
    const agent = program.command('agent').description('the keychain agent (Linux): acct agent status, acct agent stop');
    agent
      .command('status')
      .description("whether this session's keychain agent runs: pid, socket, version, idle timeout")
      .addOption(json())
      .action((opts) => run(async (c) => (await import('./commands/agent.js')).agentStatus(c, opts)));
    agent
      .command('stop')
      .description("ask this session's keychain agent to exit (yours only)")
      .addOption(json())
      .action((opts) => run(async (c) => (await import('./commands/agent.js')).agentStop(c, opts)));
  }

  if (wanted(FAST.env!.name)) fromDeclared(program, FAST.env!, run);

  if (wanted('exec')) {
    program
      .command('exec')
      .description('run a command with credentials in its environment, masked in its output')
      .usage('[options] <refs...> -- <command> [args...]')
      .argument('<refs...>', 'account references, or NAME=ref[.field]')
      .option('--no-mask', "pass the command's output through untouched")
      .option('--pass-env <name>', "hand one of acct's own store secrets (ACCT_PASSPHRASE, ACCT_BUNDLE_KEY, …) to the command too; repeatable", collect, [])
      .option('--serve', 'also serve fresh credentials of these accounts to the command (ACCT_CREDENTIALS_URL, ACCT_CREDENTIALS_TOKEN)')
      .action((refs, opts) => run(async (c) => (await import('./commands/exec.js')).exec(c, refs, afterDashDash, opts)));
  }

  if (wanted('serve')) {
    program
      .command('serve')
      .description('serve account metadata and fresh credentials to local programs (a unix socket, or a loopback port)')
      .option('--socket <path>', 'the unix socket (mode 0600) to listen on (default: $XDG_RUNTIME_DIR/acct/serve.sock)')
      .option('--port <port>', 'listen on 127.0.0.1:<port> instead (0: any free port)')
      .option('--token-file <file>', 'take the bearer token from this file (0600), or write a new one there')
      .addOption(json())
      .action((opts) => run(async (c) => (await import('./commands/serve.js')).serve(c, opts)));
  }

  if (wanted('run')) {
    program
      .command('run')
      .description('run a command with the acct:// references of dotenv files resolved, masked in its output')
      .usage('[options] --env-file <file>... -- <command> [args...]')
      .option('--env-file <file>', 'a dotenv file; values acct://<ref>[/<field>] are resolved (repeatable; later files win)', collect, [])
      .option('--no-mask', "pass the command's output through untouched")
      .option('--pass-env <name>', "hand one of acct's own store secrets to the command too; repeatable", collect, [])
      .action((opts) => run(async (c) => (await import('./commands/run.js')).run(c, opts.envFile, afterDashDash, opts)));
  }

  if (wanted('inject')) {
    program
      .command('inject')
      .description('fill {{ acct://<ref>[/<field>] }} references in a template')
      .option('-i, --input <file>', 'the template (default: stdin)')
      .option('-o, --output <file>', 'write the result to a file (mode 0600) instead of stdout')
      .option('--force', 'replace an output file that acct did not write')
      .action((opts) => run(async (c) => (await import('./commands/run.js')).inject(c, opts)));
  }

  if (wanted('git-credential')) {
    program
      .command('git-credential')
      .description("git's credential helper: answers git with a fresh token (set it up with acct setup-git)")
      .addArgument(new Argument('<operation>', 'what git asks').choices(['get', 'store', 'erase']))
      .action((operation) => run(async (c) => (await import('./commands/git.js')).gitCredential(c, operation)));
  }

  if (wanted('setup-git')) {
    program
      .command('setup-git')
      .description("make acct git's credential helper for the git hosts of your accounts (global git config)")
      .option('--host <host>', 'only this host, e.g. github.com (repeatable)', collect)
      .option('--unset', "remove acct's helper entries instead")
      .option('--replace', 'make acct the only helper for each host, removing the ones configured there (said on stderr)')
      .addOption(json())
      .action((opts) => run(async (c) => (await import('./commands/git.js')).setupGit(c, lists(opts, 'host'))));
  }

  if (wanted('export')) {
    program
      .command('export')
      .description('write an encrypted bundle of accounts for CI or another machine; prints its key')
      .argument('[refs...]', 'account references')
      .option('--all', 'every account')
      .option('-o, --output <file>', 'write the bundle to a file (mode 0600) instead of stdout')
      .option('--passphrase-stdin', 'seal with a passphrase read from stdin instead of a random key')
      .option('--move', 'hand the accounts over: delete them here (without revoking) once the bundle is written')
      .option('--access-only', 'bundle OAuth access tokens without their refresh tokens (valid until they expire)')
      .addOption(json())
      .action((refs, opts) => run(async (c) => (await import('./commands/bundle.js')).exportBundle(c, refs, opts)));
  }

  if (wanted('import')) {
    program
      .command('import')
      .description('bring the accounts of a bundle into the local store')
      .argument('[file]', 'the bundle (default: stdin)')
      .option('--passphrase-stdin', 'read the passphrase from stdin (the key otherwise comes from ACCT_BUNDLE_KEY or a prompt)')
      .addOption(json())
      .action((file, opts) => change(async (c) => (await import('./commands/bundle.js')).importBundle(c, file, opts)));
  }

  if (wanted('completion')) {
    program
      .command('completion')
      .description('print a completion script: source <(acct completion bash)')
      .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh', 'fish']))
      .action((shell) => run(async (c) => (await import('./commands/completion.js')).completion(c, program, shell)));
  }

  // For the completion scripts: account references or app slugs, one a line.
  if (wanted('__complete')) {
    program
      .command('__complete', { hidden: true })
      .argument('<what>', 'refs or apps')
      .action((what) => run(async (c) => (await import('./commands/completion.js')).complete(c, what)));
  }

  if (wanted('apps')) {
    const apps = program
      .command('apps')
      .description('search the app catalog; show, add and remove apps')
      .argument('[query]', 'search text')
      .option('--user', 'only apps you added')
      .addOption(new Option('--auth <kind>', 'only OAuth or API-key apps').choices(['oauth2', 'keys']))
      .option('--category <name>', 'only apps of one category (ai, dev, cloud, crm, …)')
      .addOption(json())
      .enablePositionalOptions()
      .action((query, opts) => run(async (c) => (await import('./commands/apps.js')).listApps(c, query, opts)));
    apps
      .command('show')
      .description("an app's definition")
      .argument('<app>', 'app slug')
      .addOption(json())
      .action((slug, opts) => run(async (c) => (await import('./commands/apps.js')).showApp(c, slug, opts)));
    apps
      .command('add')
      .description('add an app: from --file, from --issuer discovery, or explicit endpoints')
      .argument('<slug>', 'slug for the new app')
      .option('--file <path>', 'an app definition in JSON (- for stdin)')
      .option('--issuer <url>', 'OAuth: discover endpoints from OpenID Connect / RFC 8414 metadata')
      .option('--authorization-url <url>', 'OAuth: authorization endpoint')
      .option('--token-url <url>', 'OAuth: token endpoint')
      .option('--revocation-url <url>', 'OAuth: revocation endpoint')
      .option('--device-url <url>', 'OAuth: device authorization endpoint')
      .option('--scope <scope>', 'OAuth: default scope (repeatable)', collect)
      .option('--field <name>', 'keys: a secret field (repeatable; default api_key)', collect)
      .option('--base-url <url>', 'API base URL')
      .option('--header <template>', 'how requests are authorized, e.g. "Authorization: Bearer {api_key}"')
      .option('--test-path <path>', 'test request path, e.g. /me')
      .option('--identity <path>', 'dotted path to the identity in the test response (repeatable)', collect)
      .option('--name <name>', 'display name')
      .option('--force', 'replace an app you added before')
      .addOption(json())
      .action((slug, opts) => change(async (c) => (await import('./commands/apps.js')).addApp(c, slug, lists(opts, 'scope', 'field', 'identity'))));
    apps
      .command('remove')
      .description('remove an app you added')
      .argument('<slug>', 'app slug')
      .action((slug) => change(async (c) => (await import('./commands/apps.js')).removeApp(c, slug)));
  }

  return program;
}
