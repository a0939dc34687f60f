"""Cursor pagination: iterate a list across every page without thinking about cursors.

`client.sessions.list(...)` returns a pager. Iterating it (`for` / `async for`) yields every
item, fetching the next page with `starting_after=<last id>` while `has_more` is true (or
`ending_before=<first id>` when you started with `ending_before`, paging towards newer items).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, AsyncIterator, Generic, Iterator, TypeVar

from roost_client._core import Call, next_page_call, page_items
from roost_client.models import ResponseInfo

if TYPE_CHECKING:
    from roost_client._client import AsyncTransport, SyncTransport

T = TypeVar("T")


class Page(Generic[T]):
    """One page of a list: `data`, `has_more`, and the HTTP answer it came in."""

    def __init__(self, data: list[T], has_more: bool, last_response: ResponseInfo | None = None) -> None:
        self.data = data
        self.has_more = has_more
        self.last_response = last_response

    def __iter__(self) -> Iterator[T]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"<Page of {len(self.data)} has_more={self.has_more}>"


class Pager(Generic[T]):
    """A list request, run lazily. `for item in pager` walks every page; `pager.first_page()`
    fetches one page; `pager.pages()` yields the pages."""

    def __init__(self, transport: "SyncTransport", call: Call) -> None:
        self._transport = transport
        self._call = call

    def first_page(self) -> Page[T]:
        return self._fetch(self._call)

    def _fetch(self, call: Call) -> Page[T]:
        body, info = self._transport.request_raw(call)
        items, has_more = page_items(call, body)
        return Page(items, has_more, info)

    def pages(self) -> Iterator[Page[T]]:
        call = self._call
        while True:
            page = self._fetch(call)
            yield page
            if not page.has_more or not page.data:
                return
            call = next_page_call(call, page.data)

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.data

    def to_list(self, limit: int | None = None) -> list[T]:
        """Every item (or the first `limit`) as a list."""
        items: list[T] = []
        for item in self:
            if limit is not None and len(items) >= limit:
                break
            items.append(item)
        return items


class AsyncPager(Generic[T]):
    """The async pager: `async for item in pager`, `await pager` (the first page),
    `await pager.first_page()`, `async for page in pager.pages()`."""

    def __init__(self, transport: "AsyncTransport", call: Call) -> None:
        self._transport = transport
        self._call = call

    async def first_page(self) -> Page[T]:
        return await self._fetch(self._call)

    def __await__(self) -> Any:
        return self.first_page().__await__()

    async def _fetch(self, call: Call) -> Page[T]:
        body, info = await self._transport.request_raw(call)
        items, has_more = page_items(call, body)
        return Page(items, has_more, info)

    async def pages(self) -> AsyncIterator[Page[T]]:
        call = self._call
        while True:
            page = await self._fetch(call)
            yield page
            if not page.has_more or not page.data:
                return
            call = next_page_call(call, page.data)

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.data:
                yield item

    async def to_list(self, limit: int | None = None) -> list[T]:
        items: list[T] = []
        async for item in self:
            if limit is not None and len(items) >= limit:
                break
            items.append(item)
        return items
