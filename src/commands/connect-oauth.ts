// placeholder until the OAuth issue lands
import { AcctError } from '../errors.js';
const notYet = (): never => { throw new AcctError(1, 'OAuth accounts are not supported yet'); };
export const ensureFresh = notYet, discoverApp = notYet, oauthCredentials = notYet, revokeAccount = notYet;
