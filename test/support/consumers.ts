// Readers that parse `acct env` output the way its real consumers do, so the
// tests check round trips against the consumer's rules, not against acct's own.

/**
 * The $GITHUB_ENV file as the GitHub Actions runner reads it (Linux): lines
 * split at \n; `NAME=value` on one line, or `NAME<<DELIMITER`, the value's
 * lines, and a line that is exactly DELIMITER. The value is the text between,
 * without the newline before the delimiter line.
 */
export function readGithubEnvFile(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  let index = 0;
  const readLine = (): { line: string; newline: boolean } | null => {
    if (index >= text.length) return null;
    const lf = text.indexOf('\n', index);
    if (lf < 0) {
      const line = text.slice(index);
      index = text.length;
      return { line, newline: false };
    }
    const line = text.slice(index, lf);
    index = lf + 1;
    return { line, newline: true };
  };
  for (let read = readLine(); read; read = readLine()) {
    const { line } = read;
    if (!line) continue;
    const eq = line.indexOf('=');
    const heredoc = line.indexOf('<<');
    if (eq >= 0 && (heredoc < 0 || eq < heredoc)) {
      vars[line.slice(0, eq)] = line.slice(eq + 1);
    } else if (heredoc >= 0) {
      const name = line.slice(0, heredoc);
      const delimiter = line.slice(heredoc + 2);
      if (!name || !delimiter) throw new Error(`Invalid format '${line}'`);
      const start = index;
      let end = -1;
      for (;;) {
        const next = readLine();
        if (!next) throw new Error(`Matching delimiter not found '${delimiter}'`);
        if (next.line === delimiter) break;
        if (!next.newline) throw new Error('EOF marker missing new line');
        end = index - 1;
      }
      vars[name] = end > start ? text.slice(start, end) : '';
    } else {
      throw new Error(`Invalid format '${line}'`);
    }
  }
  return vars;
}

/** The values `::add-mask::` lines register, decoded as the runner does (%25, %0D, %0A). */
export function githubMaskValues(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('::add-mask::'))
    .map((l) => l.slice('::add-mask::'.length).replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%'));
}

/**
 * A GitLab dotenv report as GitLab reads it (Ci::ParseDotenvArtifactService):
 * every line must match /^(.*?)=(.*)$/, key and value are stripped of blanks
 * (Ruby's String#strip); the runner then expands $NAME in the value (os.Expand,
 * where $$ stands for $). `known` holds the variables the job already has.
 */
export function readGitlabDotenv(text: string, known: Record<string, string> = {}): Record<string, string> {
  const vars: Record<string, string> = {};
  const strip = (s: string) => s.replace(/^[\0\t\n\v\f\r ]+|[\0\t\n\v\f\r ]+$/g, '');
  for (const line of text.split(/(?<=\n)/)) {
    // Ruby's . is anything but \n, and $ matches only before \n.
    const m = /^([^\n]*?)=([^\n]*)$/.exec(line.replace(/\n$/, ''));
    if (!m) throw new Error(`Invalid Format: ${JSON.stringify(line)}`);
    const key = strip(m[1]!);
    if (!/^[a-zA-Z0-9_]+$/.test(key)) throw new Error(`invalid key ${JSON.stringify(key)}`);
    vars[key] = goExpand(strip(m[2]!), (name) => (name === '$' ? '$' : (known[name] ?? '')));
  }
  return vars;
}

/** Go's os.Expand. */
export function goExpand(s: string, mapping: (name: string) => string): string {
  const special = (c: string | undefined) => c !== undefined && '*#$@!?-0123456789'.includes(c);
  const alnum = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_]/.test(c);
  const shellName = (t: string): [string, number] => {
    if (t[0] === '{') {
      if (t.length > 2 && special(t[1]) && t[2] === '}') return [t[1]!, 3];
      for (let i = 1; i < t.length; i++) if (t[i] === '}') return i === 1 ? ['', 2] : [t.slice(1, i), i + 1];
      return ['', 1];
    }
    if (special(t[0])) return [t[0]!, 1];
    let i = 0;
    while (i < t.length && alnum(t[i])) i++;
    return [t.slice(0, i), i];
  };
  let out = '';
  let i = 0;
  for (let j = 0; j < s.length; j++) {
    if (s[j] === '$' && j + 1 < s.length) {
      out += s.slice(i, j);
      const [name, w] = shellName(s.slice(j + 1));
      if (name === '' && w > 0) {
        // invalid syntax: eaten
      } else if (name === '') out += '$';
      else out += mapping(name);
      j += w;
      i = j + 1;
    }
  }
  return out + s.slice(i);
}
