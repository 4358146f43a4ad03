// A refresh lock's outcome note, beside the lock in the file system: written
// and removed only by the lock's holder, read by the callers waiting behind it
// (see accounts/refresh.ts). The local store and the bundle store keep it so.
import { isObject, readJsonIfExists, removeIfExists, writeJsonAtomic } from './files.js';
import type { RefreshOutcome } from '../accounts/refresh.js';

export interface OutcomeNote {
  readOutcome(): Promise<RefreshOutcome | undefined>;
  recordOutcome(outcome: RefreshOutcome): Promise<void>;
  clearOutcome(): Promise<void>;
}

const isOutcome = (v: unknown): v is RefreshOutcome => isObject(v) && typeof v.at === 'string' && typeof v.problem === 'string' && typeof v.final === 'boolean';

export function outcomeFile(lockPath: string): OutcomeNote {
  const path = `${lockPath}.outcome`;
  return {
    readOutcome: async () => {
      try {
        return readJsonIfExists(path, isOutcome);
      } catch {
        return undefined; // unreadable or half-made by an older acct: no shared outcome, the caller tries itself
      }
    },
    // A note for the callers queued behind this one, nothing more: when it
    // cannot be written (a full disk), each of them tries for itself, as it
    // would without it, and this caller's own outcome is unchanged.
    recordOutcome: async (outcome) => {
      try {
        writeJsonAtomic(path, outcome);
      } catch {
        // see above
      }
    },
    clearOutcome: async () => {
      try {
        removeIfExists(path);
      } catch {
        // a stale note is ignored by later callers (sharedOutcome), so nothing depends on its removal
      }
    },
  };
}
