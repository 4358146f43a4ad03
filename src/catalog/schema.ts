// The shape of an app definition. Built-in apps (catalog/*.json) and user-added
// apps (`acct apps add`) are validated by the same schema.
import { z } from 'zod';
import { templateFields, HTTP_TOKEN } from './template.js';

export { templateFields };
import { settingValueProblem } from './resolve-app.js';
import { APP_SLUG_RE } from '../accounts/model.js';
import { envNameProblem } from './env-names.js';

const slug = z
  .string()
  .regex(APP_SLUG_RE, 'a slug is lower-case letters, digits and dashes (at most 39)');

const fieldName = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'a field name is snake_case');

const envName = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name is UPPER_SNAKE_CASE')
  .superRefine((name, ctx) => {
    const problem = envNameProblem(name);
    if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${problem} (pick a name of the service's own, such as EXAMPLE_API_KEY)` });
  });

/** http(s) URL; plain http only on loopback hosts. Templates like {site} are allowed in the host. */
export const secureUrl = z.string().refine(isSecureUrl, {
  message: 'must be an https URL (plain http only for 127.0.0.1, ::1 or localhost)',
});

export function isSecureUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value.replace(/\{[a-z0-9_]+\}/g, 'x'));
  } catch {
    return false;
  }
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && isLoopbackHost(url.hostname);
}

export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/** How a request is authorized. Values are templates over the account's fields: "Bearer {oauth_access_token}". */
export const requestAuth = z.discriminatedUnion('type', [
  z.object({ type: z.literal('header'), name: z.string().min(1), value: z.string().min(1) }).strict(),
  z.object({ type: z.literal('query'), name: z.string().min(1), value: z.string().min(1) }).strict(),
  z.object({ type: z.literal('basic'), username: z.string(), password: z.string() }).strict(),
]);

/** A request that proves the credentials work and names the identity behind them. */
export const testRequest = z
  .object({
    method: z.enum(['GET', 'POST']).default('GET'),
    /** Path joined to api.baseUrl, or an absolute URL. */
    path: z.string().min(1),
    /** JSON body for POST test requests. */
    body: z.record(z.unknown()).optional(),
    /** Dotted paths into the JSON response, tried in order; the first non-empty string names the identity. */
    identity: z.array(z.string().min(1)).default([]),
    /** Dotted path that must be true for success (Slack answers 200 with {"ok": false}). */
    okField: z.string().optional(),
  })
  .strict();

/**
 * A base URL that starts with one field's value as a whole, optionally followed
 * by a path: "{instance_url}" or "{api_domain}/api/v1". The field's value must
 * be an https origin, checked when it is filled in (see api/authorize.ts).
 */
export const FIELD_URL_TEMPLATE = /^\{([a-z][a-z0-9_]*)\}(\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$/;
/** @deprecated the older name of FIELD_URL_TEMPLATE. */
export const WHOLE_URL_TEMPLATE = FIELD_URL_TEMPLATE;

const headerName = z.string().regex(HTTP_TOKEN, 'a header name is an HTTP token');
const headerValue = z.string().refine((v) => !/[\r\n\0]/.test(v), { message: 'a header value has no CR, LF or NUL' });

const apiSpec = z
  .object({
    /**
     * API base URL; may hold {field} templates over non-secret fields and
     * connection settings (a region, a subdomain), or start with one field as
     * a whole, optionally followed by a path: "{instance_url}",
     * "{api_domain}/api/v1", for providers that give each account its own API
     * host in the token response (Salesforce, Pipedrive).
     */
    baseUrl: z.string().refine((v) => FIELD_URL_TEMPLATE.test(v) || isSecureUrl(v), {
      message: 'must be an https URL (plain http only for 127.0.0.1, ::1 or localhost), or {field} as a whole followed by an optional path',
    }),
    auth: requestAuth,
    /** Headers every request needs (API version pins, Accept). */
    headers: z.record(headerName, headerValue).default({}),
    /**
     * How `acct request --paginate` finds the next page: RFC 8288 Link headers
     * (rel="next"; the default), a cursor member of the answer sent back as a
     * query parameter (Slack's response_metadata.next_cursor as `cursor`), or
     * the last item's id (Stripe's starting_after while has_more). `items`
     * names the member holding a page's items, which --paginate joins into one array.
     */
    pagination: z
      .discriminatedUnion('type', [
        z.object({ type: z.literal('link'), items: z.string().optional() }).strict(),
        z.object({ type: z.literal('cursor'), cursor: z.string().min(1), param: z.string().min(1), items: z.string().optional() }).strict(),
        z.object({ type: z.literal('last-id'), items: z.string().min(1), id: z.string().default('id'), param: z.string().min(1), more: z.string().min(1) }).strict(),
      ])
      .optional(),
  })
  .strict();

/**
 * A connection setting: a non-secret value each account has its own of (a
 * subdomain, a tenant, a region, an instance host), asked at connect time
 * (`--setting name=value`, or a prompt on a terminal), stored with the
 * account's metadata, shown by `acct show`. {name} in the app's endpoints,
 * base URL, headers, parameters and test path is replaced by it. Values go
 * into hosts, so they are letters, digits, dot, dash, underscore and tilde
 * only (never / ? # @ : % or whitespace), and must fully match `pattern`.
 */
export const settingSpec = z
  .object({
    name: fieldName,
    label: z.string().min(1),
    /** A full-match regular expression the value must fit, on top of the safe characters. */
    pattern: z.string().optional(),
    default: z.string().optional(),
    /** Shown in the prompt and in errors: "acme" for "acme.zendesk.com". */
    example: z.string().optional(),
    /**
     * Looked up after connect instead of asked: a GET to `url` with the new
     * credentials; `list` is the dotted path to an array in the answer ("" =
     * the answer itself), `value` the member of each entry to keep, `label` the
     * one to show when there are several to choose from (Atlassian's cloud id).
     */
    lookup: z
      .object({
        url: secureUrl,
        list: z.string().default(''),
        value: z.string().min(1),
        label: z.string().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/**
 * Git hosting: the hosts whose HTTPS remotes this app's accounts authenticate
 * (`acct git-credential`, `acct setup-git`), and the username git sends with
 * the token as password, per the provider's convention.
 */
export const gitSpec = z
  .object({
    /** "github.com", "127.0.0.1:8080" (with the port git names), or one non-secret {field} as a whole (a self-managed host). */
    hosts: z
      .array(
        z
          .string()
          .regex(/^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?|\{[a-z][a-z0-9_]*\})$/, 'a git host is a lower-case host name with an optional :port, or one {field}'),
      )
      .min(1),
    /** The username to answer with: x-access-token (GitHub), oauth2 (GitLab OAuth), x-token-auth (Bitbucket). */
    username: z.string().regex(/^[^\s:\x00-\x1f\x7f]{1,64}$/, 'a git username is 1-64 printable characters without spaces or colons'),
    /**
     * The host ignores the username when the password is a token (Gitea, Azure
     * DevOps): a username in the remote URL (https://org@dev.azure.com/…) is
     * passed back as it is instead of having to name an account.
     */
    anyUsername: z.boolean().default(false),
  })
  .strict();

/** What `acct apps --category` filters by. */
export const CATEGORIES = [
  'dev', // source hosting, CI/CD, package registries
  'cloud', // clouds and hosting
  'data', // databases and data platforms
  'ai', // AI and ML APIs
  'commerce', // payments and commerce
  'email',
  'messaging', // SMS, voice, push
  'chat', // chat and collaboration
  'crm', // CRM and sales
  'support', // support and helpdesk
  'productivity', // project management, notes, forms
  'storage', // documents and file storage
  'design',
  'marketing', // marketing and analytics
  'monitoring', // monitoring, observability, incident response
  'identity', // identity providers
  'calendar', // calendars, scheduling and video
  'social',
  'finance', // HR, accounting, finance
  'maps', // maps, geo and search
] as const;

const common = {
  slug,
  name: z.string().min(1),
  description: z.string().default(''),
  category: z.enum(CATEGORIES).optional(),
  /** Other names people search for (a former name, a product name): `acct apps <query>` matches them. */
  aliases: z.array(z.string().min(1)).default([]),
  /** The provider's documentation for this API. */
  docs: z.string().url().optional(),
  api: apiSpec,
  test: testRequest.optional(),
  /** Environment variable name for each field (or setting) when injected (`acct env`, `acct exec`). */
  env: z.record(fieldName, envName),
  /** Per-account connection settings that fill templates (see settingSpec). */
  settings: z.array(settingSpec).default([]),
  git: gitSpec.optional(),
};

export const tokenResponseSpec = z
  .object({
    /** Dotted paths for tokens nested in the response (Slack user tokens: authed_user.access_token). */
    accessToken: z.string().default('access_token'),
    refreshToken: z.string().default('refresh_token'),
    expiresIn: z.string().default('expires_in'),
    scope: z.string().default('scope'),
    tokenType: z.string().default('token_type'),
    /** The provider reports errors with HTTP 200 and an `error` member (GitHub). */
    errorsWith200: z.boolean().default(false),
    /** Seconds to assume when the response has no expires_in; absent = does not expire. */
    defaultExpiresIn: z.number().int().positive().optional(),
    /** The unit of the expiresIn member, for providers that do not send seconds. */
    expiresInUnit: z.enum(['seconds', 'milliseconds', 'minutes', 'hours']).default('seconds'),
    /**
     * Dotted path to an absolute expiry instead of (or besides) expires_in: a
     * number of seconds since 1970, or an ISO 8601 time. Wins over expiresIn.
     */
    expiresAt: z.string().optional(),
  })
  .strict();

/**
 * Authorize parameters acct sets from the request it makes (the PKCE
 * challenge, the state it checks on return, its redirect URI, the client, the
 * scopes asked for): an app's authorizeParams overriding one would defeat
 * that check or send the user's code elsewhere.
 */
export const RESERVED_AUTHORIZE_PARAMS: readonly string[] = ['response_type', 'client_id', 'redirect_uri', 'state', 'code_challenge', 'code_challenge_method', 'scope', 'user_scope'];

export const oauthSpec = z
  .object({
    issuer: secureUrl.optional(),
    /** RFC 9207: the server puts `iss` in authorization responses, so acct requires and checks it. */
    issParameterSupported: z.boolean().default(false),
    /** Required unless the app only takes the client-credentials grant. */
    authorizationUrl: secureUrl.optional(),
    tokenUrl: secureUrl,
    /** Where refresh_token requests go, when not to the token endpoint (Figma). */
    refreshUrl: secureUrl.optional(),
    /**
     * The grants the app takes: authorization_code (a browser sign-in, or
     * --device where deviceAuthorizationUrl is set) and client_credentials
     * (machine-to-machine, `acct connect --client-credentials`; the token is
     * renewed by asking again with the client's credentials).
     */
    grants: z.array(z.enum(['authorization_code', 'client_credentials'])).min(1).default(['authorization_code']),
    revocationUrl: secureUrl.optional(),
    deviceAuthorizationUrl: secureUrl.optional(),
    userinfoUrl: secureUrl.optional(),
    scopes: z.array(z.string().min(1)).default([]),
    scopeSeparator: z.enum([' ', ',', '+']).default(' '),
    /** The authorization parameter that carries the scopes: `scope`, or Slack's `user_scope` for a user token. */
    scopeParam: z.enum(['scope', 'user_scope']).default('scope'),
    /** Extra authorize parameters (offline access, consent prompts needed for refresh tokens); never one acct sets itself (RESERVED_AUTHORIZE_PARAMS). */
    authorizeParams: z
      .record(z.string())
      .default({})
      .superRefine((params, ctx) => {
        for (const name of Object.keys(params))
          if (RESERVED_AUTHORIZE_PARAMS.includes(name))
            ctx.addIssue({ code: 'custom', path: [name], message: `${name} is set by acct itself (${RESERVED_AUTHORIZE_PARAMS.join(', ')} are); an app cannot set it` });
      }),
    /**
     * Standard authorize parameters the provider rejects, left out of the
     * authorize URL: `scope` (scopes fixed on the client), or
     * `code_challenge_method` (a provider that takes S256 only and refuses the
     * parameter). Never state, client_id, redirect_uri or response_type.
     */
    omitAuthorizeParams: z.array(z.enum(['scope', 'code_challenge_method'])).default([]),
    /** Extra token-request parameters (every grant, refresh included). */
    tokenParams: z.record(z.string()).default({}),
    /** Extra parameters of refresh requests only. */
    refreshParams: z.record(z.string()).default({}),
    /** Extra headers on token and refresh requests (an API version, an Accept the endpoint insists on). */
    tokenHeaders: z.record(headerName, headerValue).default({}),
    /**
     * The provider documents that every refresh returns a new refresh token
     * and invalidates the old one. acct stores whatever a refresh returns
     * anyway; this tells bundle export that a copy of the account goes stale.
     */
    rotatesRefreshToken: z.boolean().default(false),
    /** Client authentication at the token endpoint. */
    clientAuth: z.enum(['none', 'client_secret_basic', 'client_secret_post']).default('client_secret_post'),
    /** Token request body as form (RFC 6749) or JSON (a few providers). */
    tokenBody: z.enum(['form', 'json']).default('form'),
    /** Revocation request body: RFC 7009's form, or a JSON {"token"} (Notion), sent with the API's fixed headers. */
    revocationBody: z.enum(['form', 'json']).default('form'),
    pkce: z.boolean().default(true),
    /** Whether the provider requires a client secret (confidential client). */
    clientSecret: z.enum(['required', 'optional', 'none']).default('required'),
    /** Loopback redirect: fixed port and path when the provider cannot accept any port. */
    redirect: z
      .object({
        /**
         * https only for providers that refuse plain-http redirect URLs, loopback
         * ones included (Slack). acct's listener cannot serve https, so such an
         * app signs in through the manual flow: the browser ends on an error
         * page whose address the user pastes.
         */
        scheme: z.enum(['http', 'https']).default('http'),
        host: z.enum(['127.0.0.1', 'localhost']).default('127.0.0.1'),
        port: z.number().int().min(1024).max(65535).optional(),
        path: z.string().startsWith('/').default('/callback'),
      })
      .strict()
      .default({}),
    tokenResponse: tokenResponseSpec.default({}),
    /** Where to register an OAuth client for this app. */
    createClientUrl: z.string().url(),
    /** Free-text quirks worth knowing when registering the client. */
    notes: z.string().optional(),
  })
  .strict();

export const keyField = z
  .object({
    name: fieldName,
    label: z.string().min(1),
    secret: z.boolean().default(true),
    optional: z.boolean().default(false),
    /** Shape checks. `pattern` is a full-match regular expression. */
    prefix: z.string().optional(),
    pattern: z.string().optional(),
    minLength: z.number().int().positive().optional(),
    maxLength: z.number().int().positive().optional(),
    /** Default value for non-secret fields (a region, a site). */
    default: z.string().optional(),
    /** Where to create or find this value. */
    createUrl: z.string().url().optional(),
  })
  .strict();

export const oauthApp = z.object({ ...common, auth: z.literal('oauth2'), oauth: oauthSpec }).strict();

export const keysApp = z
  .object({
    ...common,
    auth: z.literal('keys'),
    fields: z.array(keyField).min(1),
    /** The field `acct token` prints; default the first secret field. */
    primary: fieldName.optional(),
  })
  .strict();

export const appDefinition = z.discriminatedUnion('auth', [oauthApp, keysApp]).superRefine((app, ctx) => {
  // OAuth request templates may also name the app's client id (Twitch wants it in a Client-Id header).
  const fields = app.auth === 'keys' ? app.fields.map((f) => f.name) : ['oauth_access_token', 'oauth_refresh_token', 'oauth_client_id'];
  if (app.auth === 'keys') {
    const seen = new Set<string>();
    for (const f of app.fields) {
      if (seen.has(f.name)) ctx.addIssue({ code: 'custom', path: ['fields'], message: `duplicate field ${f.name}` });
      seen.add(f.name);
      if (f.pattern) {
        try {
          new RegExp(f.pattern);
        } catch {
          ctx.addIssue({ code: 'custom', path: ['fields', f.name, 'pattern'], message: 'not a valid regular expression' });
        }
      }
    }
    if (app.primary && !seen.has(app.primary))
      ctx.addIssue({ code: 'custom', path: ['primary'], message: `unknown field ${app.primary}` });
  }
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  // Connection settings: unique, apart from the fields, with valid patterns and defaults.
  const settingNames = new Set<string>();
  app.settings.forEach((st, i) => {
    if (settingNames.has(st.name) || fields.includes(st.name)) issue(['settings', i, 'name'], `${st.name} is already a field or setting`);
    settingNames.add(st.name);
    if (st.pattern) {
      try {
        new RegExp(st.pattern);
      } catch {
        issue(['settings', i, 'pattern'], 'not a valid regular expression');
      }
    }
    if (st.default !== undefined) {
      const problem = settingValueProblem(st, st.default);
      if (problem) issue(['settings', i, 'default'], problem);
    }
    if (st.lookup && app.auth !== 'oauth2') issue(['settings', i, 'lookup'], 'only OAuth apps look settings up after connect');
    if (st.lookup && st.default !== undefined) issue(['settings', i, 'default'], 'a looked-up setting has no default');
  });
  const asked = new Set(app.settings.filter((st) => !st.lookup).map((st) => st.name));
  const known = new Set([...fields, ...settingNames]);
  for (const ref of templateFields(JSON.stringify([app.api.auth, app.api.headers])))
    if (!known.has(ref)) issue(['api', 'auth'], `unknown field {${ref}}`);
  const lead = FIELD_URL_TEMPLATE.exec(app.api.baseUrl)?.[1];
  for (const ref of templateFields(app.api.baseUrl)) {
    if (settingNames.has(ref) && ref !== lead) continue;
    // Key apps declare their fields. OAuth accounts get theirs from the token response, so any but the tokens may be named.
    const nonSecret = app.auth === 'keys' ? app.fields.some((x) => x.name === ref && !x.secret) : !/token|secret|key/.test(ref) && !settingNames.has(ref);
    if (!nonSecret) issue(['api', 'baseUrl'], settingNames.has(ref) ? `{${ref}} is a setting, which cannot be a whole URL` : `{${ref}} must name a non-secret field`);
  }
  if (app.test) for (const ref of templateFields(app.test.path)) if (!known.has(ref)) issue(['test', 'path'], `unknown field {${ref}}`);
  for (const host of app.git?.hosts ?? []) {
    const ref = /^\{([a-z][a-z0-9_]*)\}$/.exec(host)?.[1];
    if (ref && !(app.auth === 'keys' && app.fields.some((x) => x.name === ref && !x.secret)))
      ctx.addIssue({ code: 'custom', path: ['git', 'hosts'], message: `{${ref}} must name a non-secret field of a key app` });
  }
  for (const name of Object.keys(app.env))
    if (app.auth === 'keys' && !known.has(name)) issue(['env', name], `unknown field ${name}`);
  if (app.auth === 'oauth2') {
    const o = app.oauth;
    // The OAuth endpoints and parameters are filled before any token exists: only settings asked at connect time.
    const endpoints = { issuer: o.issuer, authorizationUrl: o.authorizationUrl, tokenUrl: o.tokenUrl, refreshUrl: o.refreshUrl, revocationUrl: o.revocationUrl, deviceAuthorizationUrl: o.deviceAuthorizationUrl, userinfoUrl: o.userinfoUrl };
    const params = { authorizeParams: o.authorizeParams, tokenParams: o.tokenParams, refreshParams: o.refreshParams, tokenHeaders: o.tokenHeaders };
    for (const [key, value] of Object.entries({ ...endpoints, ...params }))
      for (const ref of templateFields(JSON.stringify(value ?? '')))
        if (!asked.has(ref)) issue(['oauth', key], `{${ref}} is not a setting asked at connect time`);
    if (o.grants.includes('authorization_code') && !o.authorizationUrl) issue(['oauth', 'authorizationUrl'], 'the authorization_code grant needs an authorizationUrl');
  }
});


export type AppDefinition = z.output<typeof appDefinition>;
export type AppInput = z.input<typeof appDefinition>;
export type OAuthApp = z.output<typeof oauthApp>;
export type KeysApp = z.output<typeof keysApp>;
export type KeyField = z.output<typeof keyField>;
export type TestRequest = z.output<typeof testRequest>;
export type RequestAuth = z.output<typeof requestAuth>;
export type GitSpec = z.output<typeof gitSpec>;
