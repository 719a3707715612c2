from django.core.paginator import Page, Paginator
from django.db import connection
from rest_framework import pagination
from rest_framework.exceptions import NotFound


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


class OnePassPagination(PageNumberPagination):
    """Page-number pagination that, for an expensive filter (a search), finds the matching rows
    once: one statement returns the page's ids and the total (a MATERIALIZED CTE of the matching
    ids and sort keys), and the page's rows are then loaded by id from the view's unfiltered
    queryset (`view.get_queryset()`: what the caller may see, with its joins and prefetches).
    Django's paginator counts, then fetches the page — evaluating the filter twice, which for a
    message-text search was two thirds of the request. Cheap filters keep the two queries (an
    index walk stops at the page; materializing 60k rows would not). Same response and links."""

    def one_pass_when(self, request) -> bool:
        """Whether this request's filter is expensive enough to evaluate only once."""
        return False

    def page_ids_and_count(self, queryset, *, offset: int, limit: int) -> tuple[list, int]:
        """The ids of rows offset..offset+limit of `queryset` in its order, and how many it has."""
        return _page_ids_and_count(queryset, offset=offset, limit=limit)

    def rows_by_id(self, ids: list, view):
        """The page's rows, `ids` being of rows the caller may see (found by this request)."""
        return view.get_queryset().filter(pk__in=ids)

    def paginate_queryset(self, queryset, request, view=None):
        page_size = self.get_page_size(request)
        number = request.query_params.get(self.page_query_param) or "1"
        if not page_size or view is None or not self.one_pass_when(request) or not number.isdigit():
            return super().paginate_queryset(queryset, request, view)
        number = int(number)
        if number < 1:
            raise NotFound(
                self.invalid_page_message.format(page_number=number, message="That page number is less than 1")
            )
        ids, count = self.page_ids_and_count(queryset, offset=(number - 1) * page_size, limit=page_size)
        if not ids and number > 1:
            raise NotFound(
                self.invalid_page_message.format(page_number=number, message="That page contains no results")
            )
        by_id = {row.pk: row for row in self.rows_by_id(ids, view)}
        paginator = Paginator([], page_size)
        paginator.count = count  # known: Paginator would count again
        self.page = Page([by_id[pk] for pk in ids if pk in by_id], number, paginator)
        self.request = request
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True
        return list(self.page)


def _page_ids_and_count(queryset, *, offset: int, limit: int) -> tuple[list, int]:
    """The ids of rows offset..offset+limit of `queryset` in its order, and how many rows it has."""
    meta = queryset.model._meta
    ordering = [name for name in queryset.query.order_by if isinstance(name, str)] or ["pk"]
    keys = [(name.lstrip("-"), "DESC" if name.startswith("-") else "ASC") for name in ordering]
    keys = [(meta.pk.name if name == "pk" else name, direction) for name, direction in keys]
    columns = [meta.get_field(name).column for name, _ in keys]
    narrow = queryset.order_by().values_list(*dict.fromkeys([meta.pk.name, *(name for name, _ in keys)]))
    inner, params = narrow.query.sql_with_params()
    quote = connection.ops.quote_name
    order = ", ".join(f"{quote(column)} {direction}" for column, (_name, direction) in zip(columns, keys, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH matching AS MATERIALIZED ({inner}) SELECT {quote(meta.pk.column)}, "  # noqa: S608 — Django's own SQL
            f"(SELECT count(*) FROM matching) FROM matching ORDER BY {order} LIMIT %s OFFSET %s",
            [*params, limit, offset],
        )
        rows = cursor.fetchall()
    return [row[0] for row in rows], rows[0][1] if rows else 0
