// A scripted "user with a browser" for oidc-provider's development
// interactions, over plain HTTP with a cookie jar: follows redirects, signs in
// on the login form (any login works there), approves or cancels the consent
// form, submits auto-posting forms and the device confirmation form. Used by
// browser.mjs (the ACCT_BROWSER stand-in) and directly by tests (--manual,
// --device).

/** Cookies by name and path; sent when the request path is under the cookie's path. */
export class CookieJar {
  #cookies = new Map();

  store(res, url) {
    const lines = typeof res.headers.getSetCookie === 'function' ? res.headers.getSetCookie() : [];
    for (const line of lines) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = '/';
      let expired = false;
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=');
        const key = k.trim().toLowerCase();
        if (key === 'path') path = v.trim() || '/';
        if (key === 'max-age' && Number(v) <= 0) expired = true;
        if (key === 'expires' && Date.parse(attr.slice(attr.indexOf('=') + 1)) < Date.now()) expired = true;
      }
      const key = `${name}\n${path}`;
      if (expired || value === '') this.#cookies.delete(key);
      else this.#cookies.set(key, { name, value, path, host: new URL(url).host });
    }
  }

  header(url) {
    const u = new URL(url);
    const out = [];
    for (const c of this.#cookies.values()) if (c.host === u.host && (u.pathname === c.path || u.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`) || c.path === '/')) out.push(`${c.name}=${c.value}`);
    return out.join('; ');
  }
}

const decode = (s) =>
  s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, e) =>
    e[0] === '#' ? String.fromCodePoint(e[1].toLowerCase() === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1))) : { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[e.toLowerCase()],
  );

const attr = (tag, name) => {
  const m = new RegExp(`\\s${name}\\s*=\\s*("([^"]*)"|'([^']*)')`, 'i').exec(tag);
  return m ? decode(m[2] ?? m[3] ?? '') : undefined;
};

/** The forms on a page: action, method and the named inputs with their values. */
export function parseForms(html, baseUrl) {
  const forms = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const fields = {};
    for (const input of m[2].matchAll(/<input\b[^>]*>/gi)) {
      const name = attr(input[0], 'name');
      if (name) fields[name] = attr(input[0], 'value') ?? '';
    }
    forms.push({
      id: attr(m[1], 'id'),
      action: new URL(attr(m[1], 'action') ?? baseUrl, baseUrl).href,
      method: (attr(m[1], 'method') ?? 'get').toUpperCase(),
      fields,
    });
  }
  return forms;
}

/**
 * What a user does on this page, or null when there is nothing left to do.
 * `deny` cancels at the first chance (the login or consent page's Cancel link,
 * the device confirmation's Abort button).
 */
export function nextStep(html, url, { login, deny }) {
  const forms = parseForms(html, url);
  const cancel = /href="([^"]*\/abort)"/.exec(html)?.[1];
  const interaction = forms.find((f) => f.fields.prompt === 'login' || f.fields.prompt === 'consent');
  if (interaction) {
    if (deny && cancel) return { method: 'GET', url: new URL(decode(cancel), url).href };
    const body = interaction.fields.prompt === 'login' ? { prompt: 'login', login, password: 'any password' } : { prompt: 'consent' };
    return { method: 'POST', url: interaction.action, body };
  }
  const confirm = forms.find((f) => f.id === 'op.deviceConfirmForm');
  if (confirm) return { method: 'POST', url: confirm.action, body: deny ? { ...confirm.fields, abort: 'yes' } : confirm.fields };
  // form_post pages submit themselves with a script; do what the script does.
  if (/<title>Submitting Callback<\/title>/.test(html) && forms[0]) return { method: 'POST', url: forms[0].action, body: forms[0].fields };
  return null;
}

async function send(jar, step) {
  const headers = { accept: 'text/html' };
  const cookie = jar.header(step.url);
  if (cookie) headers.cookie = cookie;
  let body;
  if (step.body) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(step.body).toString();
  }
  const res = await fetch(step.url, { method: step.method, headers, body, redirect: 'manual' });
  jar.store(res, step.url);
  return res;
}

/**
 * Walks from `startUrl` like a browser would. Stops before requesting a URL for
 * which `stopAt(url)` is true (the loopback callback) and returns it; otherwise
 * returns the last page once there is nothing left to do.
 */
export async function walk(startUrl, { login = 'alice', deny = false, stopAt = () => false, maxSteps = 40 } = {}) {
  const jar = new CookieJar();
  let step = { method: 'GET', url: startUrl };
  const trail = [];
  for (let i = 0; i < maxSteps; i++) {
    if (stopAt(new URL(step.url))) return { stoppedAt: step.url, trail };
    const res = await send(jar, step);
    trail.push(`${step.method} ${new URL(step.url).pathname} → ${res.status}`);
    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get('location');
      if (!location) throw new Error(`redirect without a location at ${step.url}`);
      await res.arrayBuffer();
      step = { method: 'GET', url: new URL(location, step.url).href };
      continue;
    }
    const html = await res.text();
    const next = nextStep(html, step.url, { login, deny });
    if (!next) return { finalUrl: step.url, status: res.status, html, trail };
    step = next;
  }
  throw new Error(`gave up after ${maxSteps} steps: ${trail.join(', ')}`);
}

/** Signs in and approves (or cancels) an authorization request; returns the redirect URL it ends on, without requesting it. */
export async function authorize(authorizationUrl, { login = 'alice', deny = false } = {}) {
  const redirect = new URL(new URL(authorizationUrl).searchParams.get('redirect_uri'));
  const atRedirect = (u) => u.origin === redirect.origin && u.pathname === redirect.pathname;
  const result = await walk(authorizationUrl, { login, deny, stopAt: atRedirect });
  if (!result.stoppedAt) throw new Error(`the authorization did not come back to ${redirect.href}: ${result.trail.join(', ')} (status ${result.status})`);
  return result.stoppedAt;
}

/** Enters a device user code through the verification URI (with user_code) and approves or aborts. */
export async function driveDevice(verificationUriComplete, { login = 'dana', approve = true } = {}) {
  const result = await walk(verificationUriComplete, { login, deny: !approve });
  const ok = approve ? /Sign-in Success/.test(result.html ?? '') : /interrupted/.test(result.html ?? '');
  if (!ok) throw new Error(`the device flow did not end as expected (${approve ? 'approve' : 'abort'}): ${result.trail.join(', ')}`);
  return result;
}
