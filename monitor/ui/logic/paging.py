"""Where the user is in a cursor-paged fleet list, and what the next key press asks for.

The API gives only a next cursor, so the pager keeps the cursors of the pages already passed
to go back; any change of sort, order, filter or alerts starts again from the first page,
since a cursor belongs to one ordering.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from monitor.api.wire import ListQuery, Order, Page


@dataclass(frozen=True, slots=True)
class Pager:
    query: ListQuery
    passed: tuple[str | None, ...] = ()
    """The cursor of every page before this one, first page first."""

    @property
    def first_row(self) -> int:
        return len(self.passed) * self.query.limit + 1

    def forward(self, page: Page[object]) -> Pager | None:
        if page.next_cursor is None or not page.items:
            return None
        return Pager(
            replace(self.query, cursor=page.next_cursor), (*self.passed, self.query.cursor)
        )

    def back(self) -> Pager | None:
        if not self.passed:
            return None
        return Pager(replace(self.query, cursor=self.passed[-1]), self.passed[:-1])

    def sorted_by(self, sort: str, order: Order) -> Pager:
        return Pager(replace(self.query, sort=sort, order=order, cursor=None))

    def filtered(self, q: str) -> Pager:
        return Pager(replace(self.query, q=q, cursor=None))

    def alerts_only(self, alerts_only: bool) -> Pager:
        return Pager(replace(self.query, alerts_only=alerts_only, cursor=None))

    def rows_label(self, page: Page[object]) -> str:
        if not page.items:
            return f"no rows of {page.total:,}"
        last = self.first_row + len(page.items) - 1
        return f"rows {self.first_row:,}-{last:,} of {page.total:,}"
