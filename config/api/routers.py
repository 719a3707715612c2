from django.urls import re_path
from rest_framework.routers import SimpleRouter


class OptionalSlashRouter(SimpleRouter):
    """`/api/v1/users` and `/api/v1/users/` both work: clients should not trip over a slash."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


def route(pattern: str, view, name: str):
    """A plain (non-router) API route that accepts an optional trailing slash.
    `pattern` uses `{name}` for a path segment: `invites/{token}/accept`."""
    regex = pattern.replace("{", "(?P<").replace("}", ">[^/]+)")
    return re_path(rf"^{regex}/?$", view, name=name)
