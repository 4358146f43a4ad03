// The team store's schema, in the `acct` schema of the team's database.
//
// Versioned: migrations run in one transaction under a transaction-level
// advisory lock, so two `acct team create` at once apply each step once.
// They run as the role of the URL given to `team create` (the database
// owner a DBA set up, with CREATEROLE): it owns the tables, so row-level
// security does not bind it, and it is never used after `create`.
//
// Members are PostgreSQL login roles of their own (acct_<team>_<member>),
// members of the team's group role (acct_<team>), which holds the table
// privileges. Row-level security keys on the logged-in role (session_user) through SECURITY
// DEFINER helpers (owned by the schema owner, so a policy on one table can
// look at another without recursing). Member management (invite, join,
// remove) goes through SECURITY DEFINER functions that check the caller is
// an admin: the schema owner creates the roles, so admins need no CREATEROLE
// of their own, and no member can give itself admin rights or another
// member's key.
//
// No column holds a plaintext secret: secrets are sealed on the client
// (team/seal.ts), account keys are wrapped per member, role passwords are
// sent as SCRAM verifiers.
import type { PoolClient } from './pg.js';

export const SCHEMA_VERSION = 6;
const MIGRATION_LOCK = 0x61636374; // 'acct'

const V1 = String.raw`
CREATE TABLE acct.teams (
  id text PRIMARY KEY,
  name text NOT NULL UNIQUE,
  group_role text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE acct.members (
  team_id text NOT NULL REFERENCES acct.teams(id) ON DELETE CASCADE,
  id text NOT NULL,
  name text NOT NULL,
  role_name text NOT NULL UNIQUE,
  public_key text,
  is_admin boolean NOT NULL DEFAULT false,
  is_ci boolean NOT NULL DEFAULT false,
  invited_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  joined_at timestamptz,
  removed_at timestamptz,
  PRIMARY KEY (team_id, id)
);
CREATE UNIQUE INDEX members_active_name ON acct.members (team_id, name) WHERE removed_at IS NULL;
CREATE TABLE acct.accounts (
  team_id text NOT NULL REFERENCES acct.teams(id) ON DELETE CASCADE,
  id text NOT NULL,
  app text NOT NULL,
  nickname text NOT NULL,
  owner text NOT NULL,
  visibility text NOT NULL DEFAULT 'private' CHECK (visibility IN ('private', 'shared', 'team')),
  meta jsonb NOT NULL,
  PRIMARY KEY (team_id, id),
  UNIQUE (team_id, app, nickname)
);
CREATE TABLE acct.retired_ids (
  team_id text NOT NULL REFERENCES acct.teams(id) ON DELETE CASCADE,
  id text NOT NULL,
  PRIMARY KEY (team_id, id)
);
CREATE TABLE acct.defaults (
  team_id text NOT NULL,
  member_id text NOT NULL,
  app text NOT NULL,
  account_id text NOT NULL,
  PRIMARY KEY (team_id, member_id, app),
  FOREIGN KEY (team_id, account_id) REFERENCES acct.accounts(team_id, id) ON DELETE CASCADE
);
CREATE TABLE acct.account_access (
  team_id text NOT NULL,
  account_id text NOT NULL,
  member_id text NOT NULL,
  wrapped jsonb NOT NULL,
  granted_by text NOT NULL,
  granted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (team_id, account_id, member_id),
  FOREIGN KEY (team_id, account_id) REFERENCES acct.accounts(team_id, id) ON DELETE CASCADE
);
CREATE TABLE acct.account_secrets (
  team_id text NOT NULL,
  account_id text NOT NULL,
  sealed jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (team_id, account_id),
  FOREIGN KEY (team_id, account_id) REFERENCES acct.accounts(team_id, id) ON DELETE CASCADE
);
CREATE TABLE acct.clients (
  team_id text NOT NULL REFERENCES acct.teams(id) ON DELETE CASCADE,
  app text NOT NULL,
  client_id text NOT NULL,
  sealed jsonb,
  PRIMARY KEY (team_id, app)
);
CREATE TABLE acct.client_access (
  team_id text NOT NULL,
  app text NOT NULL,
  member_id text NOT NULL,
  wrapped jsonb NOT NULL,
  PRIMARY KEY (team_id, app, member_id),
  FOREIGN KEY (team_id, app) REFERENCES acct.clients(team_id, app) ON DELETE CASCADE
);
CREATE TABLE acct.uses (
  team_id text NOT NULL,
  account_id text NOT NULL,
  member_id text NOT NULL,
  machine text NOT NULL,
  command text NOT NULL,
  at timestamptz NOT NULL,
  FOREIGN KEY (team_id, account_id) REFERENCES acct.accounts(team_id, id) ON DELETE CASCADE
);
CREATE INDEX uses_by_account ON acct.uses (team_id, account_id, at DESC);
CREATE TABLE acct.refresh_outcomes (
  team_id text NOT NULL,
  account_id text NOT NULL,
  at timestamptz NOT NULL,
  problem text NOT NULL,
  final boolean NOT NULL,
  PRIMARY KEY (team_id, account_id),
  FOREIGN KEY (team_id, account_id) REFERENCES acct.accounts(team_id, id) ON DELETE CASCADE
);

-- Who the caller is in a team: its member id while it is an active member.
-- session_user, not current_user: inside a SECURITY DEFINER function
-- current_user is the function's owner, and session_user is the role that
-- logged in, which SET ROLE cannot change.
CREATE FUNCTION acct.me(t text) RETURNS text LANGUAGE sql STABLE SECURITY DEFINER SET search_path = acct, pg_temp AS $$
  SELECT id FROM acct.members WHERE team_id = t AND role_name = session_user AND removed_at IS NULL
$$;
CREATE FUNCTION acct.is_admin(t text) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER SET search_path = acct, pg_temp AS $$
  SELECT coalesce((SELECT is_admin FROM acct.members WHERE team_id = t AND role_name = session_user AND removed_at IS NULL), false)
$$;
CREATE FUNCTION acct.owns(t text, a text) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER SET search_path = acct, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM acct.accounts WHERE team_id = t AND id = a AND owner = acct.me(t))
$$;
CREATE FUNCTION acct.can_read(t text, a text) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER SET search_path = acct, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM acct.account_access WHERE team_id = t AND account_id = a AND member_id = acct.me(t))
$$;
-- Metadata: the owner's, what is shared with the caller, and what is shared with the whole team.
CREATE FUNCTION acct.can_see(t text, a text) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER SET search_path = acct, pg_temp AS $$
  SELECT acct.me(t) IS NOT NULL AND EXISTS (
    SELECT 1 FROM acct.accounts x WHERE x.team_id = t AND x.id = a
      AND (x.owner = acct.me(t) OR x.visibility = 'team' OR acct.can_read(t, a)))
$$;
-- What the caller is, whatever its state (a removed member learns that it was removed, and when).
CREATE FUNCTION acct.whoami(t text) RETURNS TABLE (id text, name text, is_admin boolean, public_key text, removed_at timestamptz, team_name text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = acct, pg_temp AS $$
  SELECT m.id, m.name, m.is_admin, m.public_key, m.removed_at, tm.name FROM acct.members m JOIN acct.teams tm ON tm.id = m.team_id
  WHERE m.team_id = t AND m.role_name = session_user
$$;

-- An admin adds a member: its role (password given as a SCRAM verifier), in the team's group.
CREATE FUNCTION acct.add_member(t text, member text, member_name text, role text, verifier text, admin boolean, ci boolean, pub text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = acct, pg_temp AS $$
DECLARE g text;
BEGIN
  IF NOT acct.is_admin(t) THEN RAISE EXCEPTION 'only an admin of the team can add members' USING ERRCODE = '42501'; END IF;
  IF verifier NOT LIKE 'SCRAM-SHA-256$%' THEN RAISE EXCEPTION 'a password must be given as a SCRAM verifier' USING ERRCODE = '22023'; END IF;
  IF role !~ '^acct_[a-z0-9]+_[a-z0-9]+$' THEN RAISE EXCEPTION 'not a member role name' USING ERRCODE = '22023'; END IF;
  SELECT group_role INTO g FROM acct.teams WHERE id = t;
  EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L IN ROLE %I', role, verifier, g);
  INSERT INTO acct.members (team_id, id, name, role_name, public_key, is_admin, is_ci, invited_by, joined_at)
  VALUES (t, member, member_name, role, pub, admin, ci, acct.me(t), CASE WHEN pub IS NULL THEN NULL ELSE now() END);
END $$;

-- A member that joins sets its public key, once.
CREATE FUNCTION acct.set_my_key(t text, pub text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = acct, pg_temp AS $$
BEGIN
  UPDATE acct.members SET public_key = pub, joined_at = now() WHERE team_id = t AND role_name = session_user AND removed_at IS NULL AND public_key IS NULL;
  IF NOT FOUND THEN RAISE EXCEPTION 'this invitation was used already' USING ERRCODE = '42501'; END IF;
END $$;

-- An admin removes a member: its access rows go, it is marked removed, its
-- role leaves the group and can no longer log in. Returns the accounts it could read.
CREATE FUNCTION acct.remove_member(t text, member text) RETURNS TABLE (account_id text, app text, nickname text, owner text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = acct, pg_temp AS $$
DECLARE r text; g text;
BEGIN
  IF NOT acct.is_admin(t) THEN RAISE EXCEPTION 'only an admin of the team can remove members' USING ERRCODE = '42501'; END IF;
  SELECT role_name INTO r FROM acct.members m WHERE m.team_id = t AND m.id = member AND m.removed_at IS NULL;
  IF r IS NULL THEN RAISE EXCEPTION 'no such member' USING ERRCODE = 'P0002'; END IF;
  IF r = session_user THEN RAISE EXCEPTION 'an admin cannot remove itself' USING ERRCODE = '42501'; END IF;
  SELECT group_role INTO g FROM acct.teams WHERE id = t;
  RETURN QUERY SELECT x.id, x.app, x.nickname, x.owner FROM acct.accounts x
    WHERE x.team_id = t AND (x.owner = member OR EXISTS (SELECT 1 FROM acct.account_access a WHERE a.team_id = t AND a.account_id = x.id AND a.member_id = member));
  DELETE FROM acct.account_access a WHERE a.team_id = t AND a.member_id = member;
  DELETE FROM acct.client_access c WHERE c.team_id = t AND c.member_id = member;
  DELETE FROM acct.defaults d WHERE d.team_id = t AND d.member_id = member;
  UPDATE acct.members m SET removed_at = now() WHERE m.team_id = t AND m.id = member;
  EXECUTE format('REVOKE %I FROM %I', g, r);
  EXECUTE format('ALTER ROLE %I NOLOGIN', r);
END $$;

-- A reader of an account may rewrite its secrets and metadata (a refresh), but not who owns it or who sees it.
CREATE FUNCTION acct.guard_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.owner IS DISTINCT FROM OLD.owner OR NEW.team_id IS DISTINCT FROM OLD.team_id OR NEW.id IS DISTINCT FROM OLD.id THEN
    RAISE EXCEPTION 'an account keeps its team, id and owner' USING ERRCODE = '42501';
  END IF;
  IF NEW.visibility IS DISTINCT FROM OLD.visibility AND NOT acct.owns(OLD.team_id, OLD.id) THEN
    RAISE EXCEPTION 'only its owner shares an account' USING ERRCODE = '42501';
  END IF;
  -- A reader refreshes: new tokens, their expiry, scopes and status. Its nickname and settings (where credentials go) are the owner's.
  IF NOT acct.owns(OLD.team_id, OLD.id) AND (NEW.nickname IS DISTINCT FROM OLD.nickname OR NEW.app IS DISTINCT FROM OLD.app
      OR (NEW.meta - ARRAY['expiresAt', 'status', 'scopes', 'fields', 'updatedAt', 'rotatesRefreshToken', 'lastUsedAt']) IS DISTINCT FROM (OLD.meta - ARRAY['expiresAt', 'status', 'scopes', 'fields', 'updatedAt', 'rotatesRefreshToken', 'lastUsedAt'])) THEN
    RAISE EXCEPTION 'only its owner renames an account or changes its settings' USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER guard_account BEFORE UPDATE ON acct.accounts FOR EACH ROW EXECUTE FUNCTION acct.guard_account();

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA acct FROM PUBLIC;
REVOKE ALL ON SCHEMA acct FROM PUBLIC;

ALTER TABLE acct.teams ENABLE ROW LEVEL SECURITY;
ALTER TABLE acct.members ENABLE ROW LEVEL SECURITY;
ALTER TABLE acct.accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE acct.retired_ids ENABLE ROW LEVEL SECURITY;
ALTER TABLE acct.defaults ENABLE ROW LEVEL SECURITY;
ALTER TABLE acct.account_access ENABLE ROW LEVEL SECURITY;
ALTER TABLE acct.account_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE acct.clients ENABLE ROW LEVEL SECURITY;
ALTER TABLE acct.client_access ENABLE ROW LEVEL SECURITY;
ALTER TABLE acct.uses ENABLE ROW LEVEL SECURITY;
ALTER TABLE acct.refresh_outcomes ENABLE ROW LEVEL SECURITY;

CREATE POLICY member_of ON acct.teams FOR SELECT USING (acct.me(id) IS NOT NULL);
CREATE POLICY member_of ON acct.members FOR SELECT USING (acct.me(team_id) IS NOT NULL);
CREATE POLICY see ON acct.accounts FOR SELECT USING (acct.can_see(team_id, id));
CREATE POLICY add ON acct.accounts FOR INSERT WITH CHECK (owner = acct.me(team_id));
CREATE POLICY change ON acct.accounts FOR UPDATE USING (owner = acct.me(team_id) OR acct.can_read(team_id, id));
CREATE POLICY remove ON acct.accounts FOR DELETE USING (owner = acct.me(team_id));
CREATE POLICY member_of ON acct.retired_ids FOR ALL USING (acct.me(team_id) IS NOT NULL);
CREATE POLICY mine ON acct.defaults FOR ALL USING (member_id = acct.me(team_id) AND acct.can_see(team_id, account_id));
CREATE POLICY see ON acct.account_access FOR SELECT USING (acct.can_see(team_id, account_id));
CREATE POLICY grant_access ON acct.account_access FOR INSERT WITH CHECK (acct.owns(team_id, account_id) OR acct.can_read(team_id, account_id));
CREATE POLICY rewrap ON acct.account_access FOR UPDATE USING (acct.can_read(team_id, account_id));
CREATE POLICY revoke_access ON acct.account_access FOR DELETE USING (acct.owns(team_id, account_id) OR acct.is_admin(team_id));
CREATE POLICY readers ON acct.account_secrets FOR SELECT USING (acct.can_read(team_id, account_id));
CREATE POLICY add ON acct.account_secrets FOR INSERT WITH CHECK (acct.owns(team_id, account_id));
CREATE POLICY readers_write ON acct.account_secrets FOR UPDATE USING (acct.can_read(team_id, account_id));
CREATE POLICY member_of ON acct.clients FOR ALL USING (acct.me(team_id) IS NOT NULL);
CREATE POLICY see ON acct.client_access FOR SELECT USING (acct.me(team_id) IS NOT NULL);
CREATE POLICY member_of ON acct.client_access FOR INSERT WITH CHECK (acct.me(team_id) IS NOT NULL);
CREATE POLICY member_of_update ON acct.client_access FOR UPDATE USING (acct.me(team_id) IS NOT NULL);
CREATE POLICY member_of_delete ON acct.client_access FOR DELETE USING (acct.me(team_id) IS NOT NULL);
CREATE POLICY see ON acct.uses FOR SELECT USING (acct.can_see(team_id, account_id));
CREATE POLICY mine ON acct.uses FOR INSERT WITH CHECK (member_id = acct.me(team_id) AND acct.can_see(team_id, account_id));
CREATE POLICY readers ON acct.refresh_outcomes FOR ALL USING (acct.can_read(team_id, account_id));
`;

// Version 2: a team-wide setting, off by default, that only an admin
// changes: whether members' machines may keep a copy of an access token
// (sealed in their own store) to use while the database is unreachable
// (team/offline.ts). A function, not an UPDATE grant on teams: members never
// write that table. Existing teams' group roles get to call it here; new
// teams through grantsFor.
const V2 = String.raw`
ALTER TABLE acct.teams ADD COLUMN offline_tokens boolean NOT NULL DEFAULT false;
CREATE FUNCTION acct.set_offline_tokens(t text, allow boolean) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = acct, pg_temp AS $$
BEGIN
  IF NOT acct.is_admin(t) THEN RAISE EXCEPTION 'only an admin of the team can change its settings' USING ERRCODE = '42501'; END IF;
  UPDATE acct.teams SET offline_tokens = allow WHERE id = t;
END $$;
REVOKE ALL ON FUNCTION acct.set_offline_tokens(text, boolean) FROM PUBLIC;
DO $$
DECLARE g text;
BEGIN
  FOR g IN SELECT group_role FROM acct.teams LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION acct.set_offline_tokens(text, boolean) TO %I', g);
  END LOOP;
END $$;
`;

// Version 3's acct.rekey, as it made it (and as the tests that undo version 6 make it again).
export const REKEY_V3 = String.raw`-- A new key for an account: its secrets sealed with it, wrapped for the members in wraps (member id → wrapped key), who must read it already; the others lose access.
CREATE FUNCTION acct.rekey(t text, a text, new_sealed jsonb, wraps jsonb) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = acct, pg_temp AS $$
BEGIN
  IF NOT acct.can_read(t, a) OR NOT (acct.owns(t, a) OR acct.is_admin(t)) THEN
    RAISE EXCEPTION 'only the owner of an account, or an admin who reads it, re-keys it' USING ERRCODE = '42501';
  END IF;
  IF EXISTS (SELECT 1 FROM jsonb_object_keys(wraps) k WHERE NOT EXISTS (SELECT 1 FROM acct.account_access x WHERE x.team_id = t AND x.account_id = a AND x.member_id = k)) THEN
    RAISE EXCEPTION 'a re-key keeps readers; it adds none (share does)' USING ERRCODE = '42501';
  END IF;
  UPDATE acct.account_secrets SET sealed = new_sealed, updated_at = now() WHERE team_id = t AND account_id = a;
  IF NOT FOUND THEN RAISE EXCEPTION 'the account has no secrets to re-key' USING ERRCODE = 'P0002'; END IF;
  DELETE FROM acct.account_access x WHERE x.team_id = t AND x.account_id = a AND NOT wraps ? x.member_id;
  UPDATE acct.account_access x SET wrapped = wraps -> x.member_id WHERE x.team_id = t AND x.account_id = a;
END $$;
`;
// Version 3: who may write an account's wrapped keys. Version 1 let any
// reader of an account update any member's wrapped key (the owner's
// included: the account no longer opened for it) and wrap it for anyone.
// Now only the owner wraps an account's key for a member (share); any reader
// of an account shared with the whole team wraps it for a member who joined
// later (syncShares), for an active member only and as itself; and a re-key
// (a new key for the readers left, by the owner or an admin who reads it)
// goes through acct.rekey, which replaces the sealed secrets and the
// wrapped keys at once and adds no reader. Also: invitations expire (the
// role's VALID UNTIL, made infinite when the member joins).
const V3 = String.raw`
CREATE FUNCTION acct.for_team(t text, a text) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER SET search_path = acct, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM acct.accounts WHERE team_id = t AND id = a AND visibility = 'team')
$$;
CREATE FUNCTION acct.is_joined(t text, m text) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER SET search_path = acct, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM acct.members WHERE team_id = t AND id = m AND removed_at IS NULL AND public_key IS NOT NULL)
$$;
DROP POLICY grant_access ON acct.account_access;
DROP POLICY rewrap ON acct.account_access;
CREATE POLICY grant_access ON acct.account_access FOR INSERT WITH CHECK (
  granted_by = acct.me(team_id) AND acct.is_joined(team_id, member_id)
  AND (acct.owns(team_id, account_id) OR (acct.for_team(team_id, account_id) AND acct.can_read(team_id, account_id))));
CREATE POLICY rewrap ON acct.account_access FOR UPDATE USING (acct.owns(team_id, account_id)) WITH CHECK (acct.owns(team_id, account_id));

${REKEY_V3}
-- Invitations expire: a member's role can log in until valid_until (the invitation's password) and, once it joins, for good.
CREATE FUNCTION acct.add_member(t text, member text, member_name text, role text, verifier text, admin boolean, ci boolean, pub text, valid_until timestamptz)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = acct, pg_temp AS $$
DECLARE g text;
BEGIN
  IF NOT acct.is_admin(t) THEN RAISE EXCEPTION 'only an admin of the team can add members' USING ERRCODE = '42501'; END IF;
  IF verifier NOT LIKE 'SCRAM-SHA-256$%' THEN RAISE EXCEPTION 'a password must be given as a SCRAM verifier' USING ERRCODE = '22023'; END IF;
  IF role !~ '^acct_[a-z0-9]+_[a-z0-9]+$' THEN RAISE EXCEPTION 'not a member role name' USING ERRCODE = '22023'; END IF;
  IF pub IS NULL AND (valid_until IS NULL OR valid_until <= now()) THEN RAISE EXCEPTION 'an invitation needs an expiry in the future' USING ERRCODE = '22023'; END IF;
  SELECT group_role INTO g FROM acct.teams WHERE id = t;
  EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L VALID UNTIL %L IN ROLE %I', role, verifier, CASE WHEN pub IS NULL THEN valid_until::text ELSE 'infinity' END, g);
  INSERT INTO acct.members (team_id, id, name, role_name, public_key, is_admin, is_ci, invited_by, joined_at)
  VALUES (t, member, member_name, role, pub, admin, ci, acct.me(t), CASE WHEN pub IS NULL THEN NULL ELSE now() END);
END $$;
DROP FUNCTION acct.add_member(text, text, text, text, text, boolean, boolean, text);
CREATE OR REPLACE FUNCTION acct.set_my_key(t text, pub text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = acct, pg_temp AS $$
BEGIN
  IF (SELECT rolvaliduntil FROM pg_catalog.pg_roles WHERE rolname = session_user) <= now() THEN
    RAISE EXCEPTION 'this invitation expired' USING ERRCODE = '42501';
  END IF;
  UPDATE acct.members SET public_key = pub, joined_at = now() WHERE team_id = t AND role_name = session_user AND removed_at IS NULL AND public_key IS NULL;
  IF NOT FOUND THEN RAISE EXCEPTION 'this invitation was used already' USING ERRCODE = '42501'; END IF;
  EXECUTE format('ALTER ROLE %I VALID UNTIL %L', session_user, 'infinity');
END $$;
-- Invitations made before this version, not used yet: they expire like new ones, a week from the upgrade.
DO $$
DECLARE r text;
BEGIN
  FOR r IN SELECT role_name FROM acct.members WHERE public_key IS NULL AND removed_at IS NULL LOOP
    EXECUTE format('ALTER ROLE %I VALID UNTIL %L', r, (now() + interval '7 days')::text);
  END LOOP;
END $$;

-- Retired ids are read by every member and added to by any (an account deleted); none takes one back.
DROP POLICY member_of ON acct.retired_ids;
CREATE POLICY see ON acct.retired_ids FOR SELECT USING (acct.me(team_id) IS NOT NULL);
CREATE POLICY retire ON acct.retired_ids FOR INSERT WITH CHECK (acct.me(team_id) IS NOT NULL);

-- What members write and others are shown holds no control character (an escape sequence for their terminals);
-- NOT VALID: rows from before are not checked (acct shows them escaped). A use's time is the server's when the
-- client's is missing or ahead of it.
ALTER TABLE acct.uses ADD CONSTRAINT uses_visible CHECK (machine !~ '[--]' AND command !~ '[--]') NOT VALID;
ALTER TABLE acct.accounts ADD CONSTRAINT accounts_visible CHECK (app !~ '[--]' AND nickname !~ '[--]') NOT VALID;
ALTER TABLE acct.members ADD CONSTRAINT members_visible CHECK (name !~ '[--]') NOT VALID;
ALTER TABLE acct.uses ALTER COLUMN at SET DEFAULT now();
CREATE FUNCTION acct.use_time() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.at IS NULL OR NEW.at > now() + interval '5 minutes' THEN NEW.at := now(); END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER use_time BEFORE INSERT ON acct.uses FOR EACH ROW EXECUTE FUNCTION acct.use_time();

REVOKE ALL ON FUNCTION acct.for_team(text, text), acct.is_joined(text, text), acct.rekey(text, text, jsonb, jsonb),
  acct.add_member(text, text, text, text, text, boolean, boolean, text, timestamptz) FROM PUBLIC;
DO $$
DECLARE g text;
BEGIN
  FOR g IN SELECT group_role FROM acct.teams LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION acct.for_team(text, text), acct.is_joined(text, text), acct.rekey(text, text, jsonb, jsonb),
      acct.add_member(text, text, text, text, text, boolean, boolean, text, timestamptz) TO %I', g);
  END LOOP;
END $$;
`;

// Version 4: a signed roster (team/roster.ts). Members' public keys in
// acct.members are whatever the database says; clients wrap account keys
// only for the keys of the newest roster version whose chain of admin
// signatures they verify. The table is append-only for members: admins add
// versions as themselves, nobody changes or deletes one through a member
// role (the database's owner still can: clients detect it). Each member
// also gets an Ed25519 signing key; a joiner publishes its keys with a MAC
// keyed by a secret only the inviting admin holds (sealed in `invitation`
// under a key derived from that admin's private key), and the admin checks
// it before it lists the member in a new roster version.
const V4 = String.raw`
ALTER TABLE acct.members ADD COLUMN signing_key text, ADD COLUMN proof jsonb, ADD COLUMN invitation jsonb;
CREATE TABLE acct.rosters (
  team_id text NOT NULL REFERENCES acct.teams(id) ON DELETE CASCADE,
  version integer NOT NULL CHECK (version >= 1),
  body text NOT NULL,
  signature text NOT NULL,
  signer text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (team_id, version)
);
ALTER TABLE acct.rosters ENABLE ROW LEVEL SECURITY;
CREATE POLICY see ON acct.rosters FOR SELECT USING (acct.me(team_id) IS NOT NULL);
CREATE POLICY sign ON acct.rosters FOR INSERT WITH CHECK (acct.is_admin(team_id) AND signer = acct.me(team_id));

-- An admin adds a member with its signing key (add-ci makes both keys) and the invitation it sealed for itself.
CREATE FUNCTION acct.add_member(t text, member text, member_name text, role text, verifier text, admin boolean, ci boolean, pub text, valid_until timestamptz, signing text, inv jsonb)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = acct, pg_temp AS $$
BEGIN
  PERFORM acct.add_member(t, member, member_name, role, verifier, admin, ci, pub, valid_until);
  UPDATE acct.members SET signing_key = signing, invitation = inv WHERE team_id = t AND id = member;
END $$;
-- A joiner publishes both its keys, once, with its proof (the MAC keyed by the invitation's secret).
CREATE FUNCTION acct.set_my_keys(t text, pub text, signing text, prf jsonb) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = acct, pg_temp AS $$
BEGIN
  PERFORM acct.set_my_key(t, pub);
  UPDATE acct.members SET signing_key = signing, proof = prf WHERE team_id = t AND role_name = session_user AND removed_at IS NULL;
END $$;
-- A member from before signing keys publishes one, once, with proofs for the admins of the roster it knows.
CREATE FUNCTION acct.set_my_signing_key(t text, signing text, prf jsonb) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = acct, pg_temp AS $$
BEGIN
  UPDATE acct.members SET signing_key = signing, proof = prf WHERE team_id = t AND role_name = session_user AND removed_at IS NULL AND public_key IS NOT NULL AND signing_key IS NULL;
END $$;
REVOKE ALL ON FUNCTION acct.add_member(text, text, text, text, text, boolean, boolean, text, timestamptz, text, jsonb), acct.set_my_keys(text, text, text, jsonb),
  acct.set_my_signing_key(text, text, jsonb) FROM PUBLIC;
DO $$
DECLARE g text;
BEGIN
  FOR g IN SELECT group_role FROM acct.teams LOOP
    EXECUTE format('GRANT SELECT, INSERT ON acct.rosters TO %I', g);
    EXECUTE format('GRANT EXECUTE ON FUNCTION acct.add_member(text, text, text, text, text, boolean, boolean, text, timestamptz, text, jsonb), acct.set_my_keys(text, text, text, jsonb),
      acct.set_my_signing_key(text, text, jsonb) TO %I', g);
  END LOOP;
END $$;
`;

// Version 5: an account's grant (team/grants.ts), its owner's signed word on
// who reads it, kept with it: clients wrap its key for no one the grant does
// not cover, whatever visibility and acct.account_access say. Written under
// the rule visibility is: only the owner changes it.
const V5 = String.raw`
ALTER TABLE acct.accounts ADD COLUMN grant_text text, ADD COLUMN grant_sig text;
CREATE FUNCTION acct.guard_grant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.grant_text IS DISTINCT FROM OLD.grant_text OR NEW.grant_sig IS DISTINCT FROM OLD.grant_sig) AND NOT acct.owns(OLD.team_id, OLD.id) THEN
    RAISE EXCEPTION 'only its owner shares an account' USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END $$;
REVOKE ALL ON FUNCTION acct.guard_grant() FROM PUBLIC;
CREATE TRIGGER guard_grant BEFORE UPDATE ON acct.accounts FOR EACH ROW EXECUTE FUNCTION acct.guard_grant();
`;

// Version 6: key versions (team/seal.ts, wrapInfo). Each account's key has a
// version, bound into every wrap of it, that rises by one at each re-key
// (unshare, team remove); a machine keeps the highest it has seen of each
// account and refuses an older one (TeamStore.checkKeyVersion). Without it a
// database could serve an account's previous key and sealed secrets, which a
// member it was unshared from still holds, and the next refresh would seal
// the new tokens for them. Keys from before stay version 0 (wrapped as they
// were). The re-key of an acct from before versions would wrap a new key as
// version 0 under a higher version: refused (42501, which that acct shows as
// access denied, exit 4, with the message), saying to upgrade acct. A
// member's own UPDATE cannot change a version.
const V6 = String.raw`
-- IF NOT EXISTS: a database whose functions of this version were taken back (the tests do) keeps the versions its keys are wrapped for.
ALTER TABLE acct.account_secrets ADD COLUMN IF NOT EXISTS key_version integer NOT NULL DEFAULT 0 CHECK (key_version >= 0);
CREATE FUNCTION acct.rekey(t text, a text, new_sealed jsonb, wraps jsonb, new_version integer) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = acct, pg_temp AS $$
BEGIN
  IF NOT acct.can_read(t, a) OR NOT (acct.owns(t, a) OR acct.is_admin(t)) THEN
    RAISE EXCEPTION 'only the owner of an account, or an admin who reads it, re-keys it' USING ERRCODE = '42501';
  END IF;
  IF EXISTS (SELECT 1 FROM jsonb_object_keys(wraps) k WHERE NOT EXISTS (SELECT 1 FROM acct.account_access x WHERE x.team_id = t AND x.account_id = a AND x.member_id = k)) THEN
    RAISE EXCEPTION 'a re-key keeps readers; it adds none (share does)' USING ERRCODE = '42501';
  END IF;
  UPDATE acct.account_secrets SET sealed = new_sealed, key_version = new_version, updated_at = now() WHERE team_id = t AND account_id = a AND key_version = new_version - 1;
  IF NOT FOUND THEN RAISE EXCEPTION 'the account has no secrets to re-key at that version' USING ERRCODE = 'P0002'; END IF;
  DELETE FROM acct.account_access x WHERE x.team_id = t AND x.account_id = a AND NOT wraps ? x.member_id;
  UPDATE acct.account_access x SET wrapped = wraps -> x.member_id WHERE x.team_id = t AND x.account_id = a;
END $$;
CREATE OR REPLACE FUNCTION acct.rekey(t text, a text, new_sealed jsonb, wraps jsonb) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = acct, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'the accounts of this team have key versions (team schema 6): upgrade acct on this machine to re-key one' USING ERRCODE = '42501';
END $$;
-- A key's version changes with its key, in acct.rekey (which runs as the schema's owner), never by a member's own UPDATE:
-- a reader who set it could make every machine refuse the account as rolled back, or open it at no version.
CREATE FUNCTION acct.guard_key_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.key_version IS DISTINCT FROM OLD.key_version AND current_user = session_user THEN
    RAISE EXCEPTION 'an account''s key version changes only with a re-key (acct.rekey)' USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END $$;
REVOKE ALL ON FUNCTION acct.guard_key_version() FROM PUBLIC;
CREATE TRIGGER guard_key_version BEFORE UPDATE ON acct.account_secrets FOR EACH ROW EXECUTE FUNCTION acct.guard_key_version();
REVOKE ALL ON FUNCTION acct.rekey(text, text, jsonb, jsonb, integer) FROM PUBLIC;
DO $$
DECLARE g text;
BEGIN
  FOR g IN SELECT group_role FROM acct.teams LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION acct.rekey(text, text, jsonb, jsonb, integer) TO %I', g);
  END LOOP;
END $$;
`;

const MIGRATIONS: readonly string[] = [V1, V2, V3, V4, V5, V6];

/**
 * Inside a transaction: waits for any other migration or team creation in
 * this database to commit. Granting on the same tables from two sessions at
 * once fails ("tuple concurrently updated"), so team creation takes it too.
 */
export async function lockSchema(client: PoolClient): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
}

/** Brings the schema to SCHEMA_VERSION (or `upTo`, for the tests of a migration), once, whoever else runs it at the same time. */
export async function migrate(client: PoolClient, upTo = SCHEMA_VERSION): Promise<void> {
  await client.query('BEGIN');
  try {
    await lockSchema(client);
    await client.query('CREATE SCHEMA IF NOT EXISTS acct');
    await client.query('CREATE TABLE IF NOT EXISTS acct.schema_version (version integer NOT NULL)');
    const { rows } = await client.query<{ version: number }>('SELECT max(version) AS version FROM acct.schema_version');
    const current = rows[0]?.version ?? 0;
    if (current > SCHEMA_VERSION) throw new Error(`the team schema is at version ${current}, newer than this acct knows (${SCHEMA_VERSION}): upgrade acct`);
    for (let v = current; v < upTo; v++) {
      await client.query(MIGRATIONS[v]!);
      await client.query('INSERT INTO acct.schema_version (version) VALUES ($1)', [v + 1]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
}

/** The privileges a team's group role holds; row-level security narrows them to each member's rows. */
export function grantsFor(groupRole: string, ident: (s: string) => string): string {
  const g = ident(groupRole);
  return [
    `GRANT USAGE ON SCHEMA acct TO ${g}`,
    `GRANT SELECT ON acct.teams, acct.members, acct.schema_version TO ${g}`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON acct.accounts, acct.retired_ids, acct.defaults, acct.account_access, acct.account_secrets, acct.clients, acct.client_access, acct.refresh_outcomes TO ${g}`,
    `GRANT SELECT, INSERT ON acct.uses, acct.rosters TO ${g}`,
    `GRANT EXECUTE ON FUNCTION acct.me(text), acct.is_admin(text), acct.owns(text, text), acct.can_read(text, text), acct.can_see(text, text), acct.whoami(text),
       acct.add_member(text, text, text, text, text, boolean, boolean, text, timestamptz), acct.set_my_key(text, text), acct.remove_member(text, text), acct.guard_account(),
       acct.set_offline_tokens(text, boolean), acct.for_team(text, text), acct.is_joined(text, text), acct.rekey(text, text, jsonb, jsonb),
       acct.add_member(text, text, text, text, text, boolean, boolean, text, timestamptz, text, jsonb), acct.set_my_keys(text, text, text, jsonb), acct.set_my_signing_key(text, text, jsonb), acct.rekey(text, text, jsonb, jsonb, integer) TO ${g}`,
  ].join(';\n');
}
