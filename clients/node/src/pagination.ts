/**
 * Cursor pagination: `for await (const s of roost.sessions.list({...}))` walks every page,
 * asking for the next with `starting_after=<last id>` while the server says `has_more` (or
 * `ending_before=<first id>` when you started with `ending_before`, towards newer items).
 */

import type { Call, Transport } from "./transport.js";
import type { Page, WithResponse } from "./types.js";

function itemId(item: unknown): string {
  const id = (item as { id?: unknown; attempt_id?: unknown } | null)?.id ?? (item as { attempt_id?: unknown })?.attempt_id;
  if (typeof id !== "string") throw new TypeError("A list item without an id: cannot ask for the next page");
  return id;
}

/** A list request, run lazily: iterate it with `for await`, or take `firstPage()`, `pages()`, `toArray()`. */
export class Pager<T> implements AsyncIterable<T> {
  constructor(
    private readonly transport: Transport,
    private readonly call: Call,
  ) {}

  /** One page: `data`, `has_more` (and `lastResponse`). */
  firstPage(): Promise<WithResponse<Page<T>>> {
    return this.transport.request<Page<T>>(this.call);
  }

  /** Every page, one request each. An empty page ends the walk. */
  async *pages(): AsyncGenerator<WithResponse<Page<T>>, void, undefined> {
    let call = this.call;
    const backwards = (call.query ?? []).some(([name]) => name === "ending_before");
    const cursor = backwards ? "ending_before" : "starting_after";
    for (;;) {
      const page = await this.transport.request<Page<T>>(call);
      yield page;
      if (!page.has_more || page.data.length === 0) return;
      const next = itemId(backwards ? page.data[0] : page.data[page.data.length - 1]);
      const query = (call.query ?? []).filter(([name]) => name !== cursor);
      call = { ...call, query: [...query, [cursor, next]] };
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for await (const page of this.pages()) yield* page.data;
  }

  /** Every item (or the first `limit`) in an array. */
  async toArray(options: { limit?: number } = {}): Promise<T[]> {
    const items: T[] = [];
    if (options.limit !== undefined && options.limit <= 0) return items;
    for await (const item of this) {
      items.push(item);
      if (options.limit !== undefined && items.length >= options.limit) break;
    }
    return items;
  }
}
