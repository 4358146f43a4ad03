import { join } from 'node:path';

export interface Paths {
  /** Settings, user-added apps, OAuth client ids. */
  config: string;
  /** Account metadata, encrypted secrets, locks. */
  data: string;
}

/** ACCT_HOME holds everything; otherwise the platform's config and data folders. */
export function resolvePaths(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): Paths {
  if (env.ACCT_HOME) return { config: env.ACCT_HOME, data: env.ACCT_HOME };
  // node:os only when there is no HOME: loading it is start-up time acct token would spend for nothing.
  const home = env.HOME || env.USERPROFILE || process.getBuiltinModule('node:os').homedir();
  if (platform === 'darwin') {
    const dir = join(home, 'Library', 'Application Support', 'acct');
    return { config: dir, data: dir };
  }
  if (platform === 'win32') {
    const appData = env.APPDATA || join(home, 'AppData', 'Roaming');
    const local = env.LOCALAPPDATA || join(home, 'AppData', 'Local');
    return { config: join(appData, 'acct'), data: join(local, 'acct') };
  }
  return {
    config: join(env.XDG_CONFIG_HOME || join(home, '.config'), 'acct'),
    data: join(env.XDG_DATA_HOME || join(home, '.local', 'share'), 'acct'),
  };
}
