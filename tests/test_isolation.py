"""The cross-tenant sweep of the REST API, generated from the URL conf.

Every route under /api/v1/ is found by walking the resolver, so a route added later is swept
without a new test:

* detail routes (a `pk` in the URL): an admin of tenant A calls every method with the pk of tenant
  B's object and must get exactly what a missing pk gets — 404 (or 405 where the route does not
  take that method at all, for A's own object too) — and nothing of B's may change;
* list-like routes (GET, no URL kwargs): nothing of B's may appear in the answer.

A route joins the sweep by registering which tenant-owned object its pk addresses (ROUTE_OBJECTS,
or a static `queryset` on the view); routes reachable without a token are listed in PUBLIC_ROUTES.
An unregistered route fails here instead of going unchecked. tests/registry.py builds the objects.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core import mail
from django.db import models
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.views import APIView

from accounts.models import Invite, Membership, Role, User
from config.redis import get_redis
from crm.models import Contact, Stage
from knowledge.models import ArticleVersion
from tenants.context import tenant_context
from tenants.models import Tenant, TenantOwned
from tenants.tests.factories import TenantFactory
from tests import registry
from tickets.models import Message

API_PREFIX = "api/v1/"
METHODS = ("GET", "PUT", "PATCH", "DELETE", "POST")

# Reachable without a tenant-bound token: they are not swept (their own tests cover them).
PUBLIC_ROUTES = {
    "auth-register",
    "auth-login",
    "auth-refresh",
    "auth-logout",
    "auth-password-reset",
    "auth-password-reset-confirm",
    "invite-accept",
}

# Router basename → (tenant-owned model, attribute of it that the URL's pk carries).
# users/{pk} addresses a person by user id, through their membership in the tenant.
ROUTE_OBJECTS: dict[str, tuple[type[models.Model], str]] = {
    "user": (Membership, "user_id"),
    "invite": (Invite, "pk"),
}

# Routes with a second object under the pk (tickets/{pk}/messages/{message_id}/...): the extra URL
# kwarg → (its tenant-owned model, the URL kwargs that address one such object).
NESTED_OBJECTS = {
    "message_id": (Message, lambda message: {"pk": message.ticket_id, "message_id": message.pk}),
    "version_id": (ArticleVersion, lambda version: {"pk": version.article_id, "version_id": version.pk}),
}

# Bodies that pass validation, so that a view which validates before looking the object up still
# reaches the lookup (and a broken lookup would really write).
REQUEST_BODIES: dict[tuple[str, str], dict] = {
    ("user-detail", "PUT"): {"name": "Renamed from A"},
    ("user-detail", "PATCH"): {"name": "Renamed from A"},
    ("user-role", "POST"): {"role": Role.SUPERVISOR},
    ("tag-detail", "PUT"): {"name": "renamed-from-a"},
    ("contact-field-detail", "PUT"): {"label": "Renamed from A"},
    ("ticket-detail", "PATCH"): {"priority": "high"},
    ("ticket-priority", "POST"): {"priority": "high"},
    # A callable gets the World: the body names one of A's own objects.
    ("ticket-transfer", "POST"): lambda world: {"to_user": world.admin_a.pk},
    # An internal note: valid on any ticket (no WhatsApp window, nothing sent).
    ("ticket-messages", "POST"): {"text": "Note from A", "internal_note": True},
    ("queue-detail", "PUT"): {"name": "Renamed queue of A"},
    ("quickreply-detail", "PUT"): {"shortcut": "renamed-a", "text": "Renamed answer of A"},
    ("pipeline-detail", "PUT"): {"name": "Renamed funnel of A"},
    ("stage-detail", "PUT"): {"name": "Renamed stage of A"},
    ("deal-label-detail", "PUT"): {"name": "renamed-label-a"},
    ("deal-move", "POST"): lambda world: {"stage": world.objects_a[Stage].pk},
    ("deal-lose", "POST"): {"reason": "Chose a competitor"},
    ("meeting-reschedule", "POST"): lambda world: {"starts_at": (timezone.now() + timedelta(days=3)).isoformat()},
    ("campaign-detail", "PUT"): {"name": "Renamed campaign of A"},
    ("knowledge-article-detail", "PUT"): {"title": "Renamed article of A"},
    ("ai-agent-detail", "PUT"): {"name": "Renamed bot of A"},
    ("flow-versions", "POST"): {"graph": {"nodes": [], "edges": []}},
}

# What the control call with A's own object answers when success needs an outside provider: the
# sweep's connections are Cloud connections aimed at an unreachable Graph API (see `world`).
CONTROL_STATUS: dict[tuple[str, str], int] = {
    ("connection-test", "POST"): 502,  # provider_error: the Graph API cannot be reached
    ("connection-qrcode", "POST"): 409,  # not_supported: Cloud connections have no QR code
    ("connection-logout", "POST"): 409,  # not_supported
    ("ticket-message-retry-media", "POST"): 409,  # media_not_failed: the factory's message has no media
    ("deal-reopen", "POST"): 409,  # deal_not_closed: the factory's deal is open
    ("campaign-schedule", "POST"): 400,  # campaign_invalid: the factory's draft has no message or audience
    ("campaign-pause", "POST"): 409,  # campaign_state: a draft is not running
    ("campaign-resume", "POST"): 409,
    ("campaign-cancel", "POST"): 409,
    ("campaign-audience-import", "POST"): 415,  # a CSV file upload (multipart), not JSON
    # The sweep's tenants have their AI switched off (tests/registry.py): 409 ai_not_configured.
    ("ai-ticket-summarize", "POST"): 409,
    ("ai-ticket-classify", "POST"): 409,
    ("ai-ticket-suggest-replies", "POST"): 409,
    ("ai-message-transcribe", "POST"): 409,
    ("ai-deal-qualify", "POST"): 409,
    ("flow-rollback", "POST"): 409,  # flow_no_earlier_version: the factory's flow has one version
}


# --- Route discovery -----------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str | None
    pattern: str
    view: object
    kwargs: frozenset[str]

    def __str__(self) -> str:
        return self.name or self.pattern

    @property
    def view_class(self):
        return getattr(self.view, "cls", None) or getattr(self.view, "view_class", None)

    @property
    def is_drf(self) -> bool:
        return isinstance(self.view_class, type) and issubclass(self.view_class, APIView)

    @property
    def is_viewset(self) -> bool:
        return getattr(self.view, "actions", None) is not None

    @property
    def basename(self) -> str | None:
        return (getattr(self.view, "initkwargs", None) or {}).get("basename")

    @property
    def methods(self) -> frozenset[str]:
        """The HTTP methods the route really serves (a viewset route: its action mapping)."""
        if self.is_viewset:
            return frozenset(method.upper() for method in self.view.actions)
        klass = self.view_class
        return frozenset(
            method.upper()
            for method in klass.http_method_names
            if method not in ("options", "head", "trace") and hasattr(klass, method)
        )


def _clean(regex: str) -> str:
    return regex.removeprefix("^").removesuffix("$")


def api_routes() -> list[Route]:
    routes: list[Route] = []

    def walk(patterns, prefix: str, namespaces: list[str], kwargs: frozenset[str]):
        for pattern in patterns:
            here = prefix + _clean(str(pattern.pattern))
            names = kwargs | frozenset(pattern.pattern.regex.groupindex)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, here, namespaces + [pattern.namespace] * bool(pattern.namespace), names)
            elif here.startswith(API_PREFIX):
                name = ":".join([*namespaces, pattern.name]) if pattern.name else None
                routes.append(Route(name, here, pattern.callback, names))

    walk(get_resolver().url_patterns, "", [], frozenset())
    return routes


ROUTES = api_routes()
SWEPT = [route for route in ROUTES if route.name not in PUBLIC_ROUTES]
DETAIL_ROUTES = [route for route in SWEPT if route.is_drf and route.kwargs == {"pk"}]
LIST_ROUTES = [route for route in SWEPT if route.is_drf and not route.kwargs and "GET" in route.methods]
NESTED_ROUTES = [
    route
    for route in SWEPT
    if route.is_drf and "pk" in route.kwargs and route.kwargs != {"pk"} and route.kwargs <= {"pk", *NESTED_OBJECTS}
]
NESTED_CASES = [pytest.param(route, method, id=f"{route} {method}") for route in NESTED_ROUTES for method in METHODS]
DETAIL_CASES = [pytest.param(route, method, id=f"{route} {method}") for route in DETAIL_ROUTES for method in METHODS]


def object_of(route: Route) -> tuple[type[models.Model], str]:
    """(model, attribute) of the tenant-owned object the route's pk (or list items' id) addresses."""
    if route.basename in ROUTE_OBJECTS:
        model, attribute = ROUTE_OBJECTS[route.basename]
    else:
        queryset = getattr(route.view_class, "queryset", None)
        if queryset is None:
            pytest.fail(
                f"{route} ({route.pattern}): register the tenant-owned model its pk addresses in "
                "ROUTE_OBJECTS (tests/test_isolation.py) so the cross-tenant sweep covers it."
            )
        model, attribute = queryset.model, route.view_class.lookup_field
    if not issubclass(model, TenantOwned):
        pytest.fail(f"{route} addresses {model._meta.label}, which is not tenant-owned: sweep it some other way.")
    return model, attribute


def _missing_value(value):
    if isinstance(value, int):
        return 2_000_000_000
    if isinstance(value, uuid.UUID):
        return uuid.uuid4()
    return f"missing-{uuid.uuid4().hex}"


def _call(client, method: str, url: str, body: dict):
    if method in ("GET", "DELETE"):
        return getattr(client, method.lower())(url)
    return getattr(client, method.lower())(url, body, format="json")


# --- The two tenants -------------------------------------------------------------------


@dataclass
class World:
    a: Tenant
    b: Tenant
    admin_a: User
    client: object
    objects_a: dict
    objects_b: dict
    markers_b: frozenset[str]


@pytest.fixture
def world(tenant, make_member, client_for, settings):
    settings.WHATSAPP_GRAPH_BASE_URL = "http://127.0.0.1:1"  # provider calls fail at once, on loopback
    other = TenantFactory(slug="tenant-b-hidden", name="Tenant B Hidden Ltd")
    admin_a = make_member(tenant, Role.ADMIN, name="Admin of A", email="admin-a@example.com")
    objects_a = registry.build_all(tenant)
    objects_b = registry.build_all(other)
    return World(
        a=tenant,
        b=other,
        admin_a=admin_a,
        client=client_for(admin_a, tenant),
        objects_a=objects_a,
        objects_b=objects_b,
        markers_b=registry.tenant_markers(other, objects_b),
    )


def _strings(data) -> set[str]:
    if isinstance(data, dict):
        return set().union(*(_strings(value) for value in data.values())) if data else set()
    if isinstance(data, list):
        return set().union(*(_strings(value) for value in data)) if data else set()
    return {data} if isinstance(data, str) else set()


# --- The registry ------------------------------------------------------------------------


def test_every_tenant_owned_model_has_a_factory():
    missing = [model._meta.label for model in registry.tenant_owned_models() if model not in registry.FACTORIES]
    assert missing == [], "register a factory for these models in tests/registry.py"


def test_the_registry_knows_the_current_models():
    labels = [model._meta.label for model in registry.tenant_owned_models()]
    assert {"accounts.Membership", "accounts.Invite"} <= set(labels)
    assert set(registry.FACTORIES) <= set(registry.tenant_owned_models()), "stale registry entries"


def test_every_factory_builds_a_row_visible_in_its_tenant_only(tenant, other_tenant):
    built_a = registry.build_all(tenant)
    built_b = registry.build_all(other_tenant)
    assert set(built_a) == set(built_b) == set(registry.FACTORIES)
    for model, obj in built_a.items():
        assert obj.tenant_id == tenant.pk
        with tenant_context(tenant):
            assert model.objects.filter(pk=obj.pk).exists(), model._meta.label
            assert not model.objects.filter(pk=built_b[model].pk).exists(), model._meta.label


# --- The route catalogue --------------------------------------------------------------------


def test_the_walk_finds_the_known_routes():
    names = {route.name for route in ROUTES}
    assert {
        "user-detail",
        "user-activate",
        "user-deactivate",
        "user-role",
        "user-reset-password",
        "invite-detail",
        "invite-revoke",
    } <= {route.name for route in DETAIL_ROUTES}
    assert {"user-list", "invite-list", "auth-me"} <= {route.name for route in LIST_ROUTES}
    assert PUBLIC_ROUTES <= names, f"stale PUBLIC_ROUTES entries: {sorted(PUBLIC_ROUTES - names)}"


def test_every_api_route_is_swept_or_declared_public():
    unhandled = []
    for route in SWEPT:
        if route.name is None:
            unhandled.append(f"{route.pattern}: unnamed (name it, the sweep reverses by name)")
        elif not route.is_drf:
            unhandled.append(f"{route}: not a DRF view")
        elif route.kwargs - {"pk"} and route not in NESTED_ROUTES:
            unhandled.append(f"{route}: URL kwargs {sorted(route.kwargs)}; only `pk` is swept — extend the sweep")
    assert unhandled == []


@pytest.mark.parametrize("route", DETAIL_ROUTES + [r for r in LIST_ROUTES if r.is_viewset], ids=str)
def test_every_swept_viewset_route_resolves_its_object(route):
    model, attribute = object_of(route)
    assert model in registry.FACTORIES
    lookup = route.view_class.lookup_field
    assert attribute == lookup or {attribute, lookup} <= {"pk", "id"}, (
        f"{route}: the view looks objects up by {lookup!r}, ROUTE_OBJECTS says {attribute!r}"
    )


@pytest.mark.parametrize("name", sorted(PUBLIC_ROUTES))
def test_public_routes_need_no_token(db, api_client, name):
    (route,) = [route for route in ROUTES if route.name == name]
    method = "POST" if "POST" in route.methods else "GET"
    url = reverse(name, kwargs={kwarg: "x" for kwarg in route.kwargs})
    response = _call(api_client, method, url, {})
    assert response.status_code not in (401, 403), response.content


# --- The sweep ------------------------------------------------------------------------------


@pytest.mark.parametrize(("route", "method"), DETAIL_CASES)
def test_another_tenants_object_is_like_a_missing_one(world, route, method):
    model, attribute = object_of(route)
    b_value = getattr(world.objects_b[model], attribute)
    a_value = getattr(world.objects_a[model], attribute)
    body = REQUEST_BODIES.get((route.name, method), {})
    body = body(world) if callable(body) else body
    expected = 404 if method in route.methods else 405

    before = registry.tenant_snapshot(world.b)
    response = _call(world.client, method, reverse(route.name, kwargs={"pk": b_value}), body)
    missing = _call(world.client, method, reverse(route.name, kwargs={"pk": _missing_value(b_value)}), body)

    assert response.status_code == expected, response.content
    assert missing.status_code == expected, missing.content
    assert response.json() == missing.json()
    assert registry.tenant_snapshot(world.b) == before
    assert mail.outbox == []
    assert get_redis().llen("celery") == 0

    # A control with A's own object: the URL and body are right, so the 404 above is B's doing.
    own = _call(world.client, method, reverse(route.name, kwargs={"pk": a_value}), body)
    if expected == 405:
        assert own.status_code == 405, own.content
    elif (route.name, method) in CONTROL_STATUS:
        assert own.status_code == CONTROL_STATUS[(route.name, method)], own.content
    else:
        assert 200 <= own.status_code < 300, own.content


@pytest.mark.parametrize(("route", "method"), NESTED_CASES)
def test_another_tenants_nested_object_is_like_a_missing_one(world, route, method):
    """B's ticket with B's message, and A's own ticket with B's message: both a missing object."""
    (extra,) = route.kwargs - {"pk"}
    model, kwargs_of = NESTED_OBJECTS[extra]
    kwargs_b, kwargs_a = kwargs_of(world.objects_b[model]), kwargs_of(world.objects_a[model])
    body = REQUEST_BODIES.get((route.name, method), {})
    expected = 404 if method in route.methods else 405

    before = registry.tenant_snapshot(world.b)
    missing = _call(world.client, method, reverse(route.name, kwargs={**kwargs_a, extra: 2_000_000_000}), body)
    assert missing.status_code == expected, missing.content
    for kwargs in (kwargs_b, {**kwargs_a, extra: kwargs_b[extra]}):
        response = _call(world.client, method, reverse(route.name, kwargs=kwargs), body)
        assert response.status_code == expected, response.content
        assert response.json() == missing.json()
    assert registry.tenant_snapshot(world.b) == before
    assert get_redis().llen("celery") == 0

    own = _call(world.client, method, reverse(route.name, kwargs=kwargs_a), body)
    if expected == 405:
        assert own.status_code == 405, own.content
    else:
        assert own.status_code == CONTROL_STATUS.get((route.name, method), 200), own.content


@pytest.mark.parametrize("route", LIST_ROUTES, ids=str)
def test_list_routes_show_nothing_of_another_tenant(world, route):
    response = world.client.get(reverse(route.name), {"page_size": 200})
    assert response.status_code == 200, response.content
    if response["Content-Type"].startswith("text/csv"):  # exports: B's strings must not be in the file
        text = b"".join(response.streaming_content).decode()
        assert {marker for marker in world.markers_b if marker in text} == set()
        assert world.objects_a[Contact].name in text or route.name != "contact-export"
        return
    data = response.json()
    assert _strings(data) & world.markers_b == set()

    if route.is_viewset:
        model, attribute = object_of(route)
        items = data["results"] if isinstance(data, dict) and "results" in data else data
        ids = [item["id"] for item in items]
        assert getattr(world.objects_b[model], attribute) not in ids
        assert getattr(world.objects_a[model], attribute) in ids
        # Every row shown is one of A's (a list may filter A's rows, never add another tenant's).
        own = {getattr(obj, attribute) for obj in model.all_tenants.filter(tenant=world.a)}
        assert set(ids) <= own


def test_the_markers_cover_the_other_tenants_people(world):
    member_b = world.objects_b[Membership].user
    invite_b = world.objects_b[Invite]
    assert {member_b.email, member_b.name, invite_b.email, world.b.name, world.b.slug} <= world.markers_b
    assert world.admin_a.email not in world.markers_b
