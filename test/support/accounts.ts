// The account metadata a store holds, read from its files the way acct reads
// them (store/account-file.ts): for tests that check what a command wrote.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AccountFile, ACCOUNT_FILE_NAME } from '../../src/store/account-file.js';
import type { Account, Metadata } from '../../src/accounts/model.js';

/** The metadata file acct writes, in a store's data folder. */
export const accountsFile = (data: string) => join(data, ACCOUNT_FILE_NAME);

/** The metadata in `data`: accounts.tsv, or the accounts.json of a store not yet written to. */
export function storedMetadata(data: string): Metadata {
  const path = accountsFile(data);
  if (existsSync(path)) return AccountFile.parse(path, readFileSync(path)).metadata();
  return JSON.parse(readFileSync(join(data, 'accounts.json'), 'utf8')) as Metadata;
}

/** An API-key account's metadata, for tests that build stores or resolve references. */
export function keyAccount(app: string, nickname: string, id: string, extra: Partial<Account> = {}): Account {
  return {
    id,
    app,
    nickname,
    auth: 'keys',
    status: 'ok',
    scopes: [],
    fields: ['api_key'],
    identity: null,
    expiresAt: null,
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
    ...extra,
  };
}
