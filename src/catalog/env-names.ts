// Environment variables a credential must never be put in. `acct exec` and
// `acct run` set an account's fields as variables of the command they start,
// under names an app definition chooses (the built-in catalog, `acct apps add
// --file`, or an app carried in a bundle someone else made) or the user names
// (`acct env NAME=ref`). A value a provider or a bundle chose, put in one of
// these, changes how that command or the programs it starts load or run:
// NODE_OPTIONS=--require=/tmp/x.js runs code in every Node program, LD_PRELOAD
// in every dynamically linked one, GIT_SSH_COMMAND or GIT_CONFIG_* in git, a
// proxy or CA variable redirects or opens up TLS traffic, ACCT_* reconfigures
// acct itself. No credential belongs in one, so every such name is refused
// (exit 2), wherever it comes from. Compared without regard to case: on
// Windows the environment ignores case, and curl reads http_proxy in lower case.

/** Names refused as they are. */
const EXACT = [
  // The shell and how it finds and starts programs.
  'PATH', 'HOME', 'SHELL', 'IFS', 'ENV', 'BASH_ENV', 'PS4', 'PROMPT_COMMAND', 'ZDOTDIR', 'CDPATH',
  // Programs other programs run.
  'EDITOR', 'VISUAL', 'PAGER', 'BROWSER',
  // Interpreters' start-up code and module paths (NODE_, PYTHON, PERL and RUBY prefixes below).
  'JAVA_TOOL_OPTIONS', '_JAVA_OPTIONS', 'JDK_JAVA_OPTIONS', 'CLASSPATH', 'GEM_HOME', 'GEM_PATH',
  // Which certificates TLS trusts.
  'SSL_CERT_FILE', 'SSL_CERT_DIR', 'CURL_CA_BUNDLE', 'REQUESTS_CA_BUNDLE',
  // Where HTTP traffic goes.
  'HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'NO_PROXY', 'FTP_PROXY',
];

/** Prefixes refused: every name that starts with one. */
const PREFIXES = [
  'LD_', // the dynamic linker: LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT
  'DYLD_', // the same on macOS
  'NODE_', // NODE_OPTIONS, NODE_PATH, NODE_EXTRA_CA_CERTS, NODE_TLS_REJECT_UNAUTHORIZED
  'PYTHON', // PYTHONPATH, PYTHONSTARTUP, PYTHONHOME, PYTHONINSPECT
  'PERL', // PERL5OPT, PERL5LIB, PERLLIB
  'RUBY', // RUBYOPT, RUBYLIB
  'GIT_', // GIT_SSH_COMMAND, GIT_CONFIG_COUNT/KEY_n/VALUE_n, GIT_EXEC_PATH, GIT_ASKPASS (GITHUB_TOKEN and GITLAB_TOKEN are not GIT_)
  'NPM_CONFIG_', // npm_config_script_shell, npm_config_node_options
  'ACCT_', // acct's own settings and store secrets (ACCT_HOME, ACCT_BUNDLE, ACCT_BROWSER)
];

/** Why `name` cannot hold a credential, or undefined when it can. */
export function envNameProblem(name: string): string | undefined {
  const upper = name.toUpperCase();
  if (EXACT.includes(upper) || PREFIXES.some((p) => upper.startsWith(p)))
    return `${name} changes how programs start or what they trust, so no credential may be put in it`;
  return undefined;
}
