// `acct request --paginate`: where the next page is, and how pages become one
// JSON array. No I/O here: the command fetches each page through the same
// authorized path as a single request (send.ts keeps credentials at their origin).
import type { AppDefinition } from '../catalog/schema.js';
import { getPath } from './test-request.js';

export type Pagination = NonNullable<AppDefinition['api']['pagination']>;

/** RFC 8288: the target of the Link header's rel="next" entry, resolved against the page's URL. */
export function nextFromLink(link: string | null, base: URL): URL | undefined {
  if (!link) return undefined;
  // Entries are `<uri>; param=value; …`, separated by commas outside the <…>.
  for (const m of link.matchAll(/<([^>]*)>((?:\s*;\s*[^;,]+)*)/g)) {
    const rels = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(m[2]!);
    const rel = (rels?.[1] ?? rels?.[2] ?? '').toLowerCase().split(/\s+/);
    if (!rel.includes('next')) continue;
    try {
      return new URL(m[1]!, base);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** The next page's URL, or undefined on the last page. */
export function nextPage(p: Pagination, page: URL, link: string | null, body: unknown): URL | undefined {
  switch (p.type) {
    case 'link':
      return nextFromLink(link, page);
    case 'cursor': {
      const cursor = getPath(body, p.cursor);
      if (typeof cursor !== 'string' || cursor === '') return undefined;
      return withParam(page, p.param, cursor);
    }
    case 'last-id': {
      const items = getPath(body, p.items);
      if (getPath(body, p.more) !== true || !Array.isArray(items) || !items.length) return undefined;
      const id = getPath(items[items.length - 1], p.id);
      return typeof id === 'string' || typeof id === 'number' ? withParam(page, p.param, String(id)) : undefined;
    }
  }
}

function withParam(url: URL, name: string, value: string): URL {
  const next = new URL(url);
  next.searchParams.set(name, value);
  return next;
}

/**
 * The pages as one array: a page that is an array, or whose `items` member
 * is, gives its elements; any other page is one element (GitHub's search
 * answers are objects with the items inside).
 */
export function joinPages(p: Pagination, pages: unknown[]): unknown[] {
  return pages.flatMap((page) => {
    const items = p.items ? getPath(page, p.items) : page;
    return Array.isArray(items) ? items : [page];
  });
}
