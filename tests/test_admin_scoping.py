"""The Django admin inside one tenant: rows, objects, choices, writes and permissions.

Tenant admins and supervisors of tenant A log in with a session whose tenant is A. Every ModelAdmin
registered for a tenant-owned model is swept (django.contrib.admin.site._registry), so a model
added later is covered once its factory is in tests/registry.py.
"""

import re

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.contrib.sessions.backends.db import SessionStore
from django.forms import ModelChoiceField, ModelMultipleChoiceField
from django.test import RequestFactory
from django.urls import reverse
from django_celery_beat.models import PeriodicTask
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import Invite, Membership, Role, User
from accounts.tests.factories import MembershipFactory, UserFactory
from crm.models import Deal, DealLabel, Escalation, Meeting, Pipeline, Stage, Task
from tenants.context import tenant_context
from tenants.models import Tenant, TenantOwned
from tenants.selectors import SESSION_TENANT_KEY
from tenants.tests.factories import TenantFactory
from tests import registry

TENANT_ADMINS = sorted(
    ((model, model_admin) for model, model_admin in admin.site._registry.items() if issubclass(model, TenantOwned)),
    key=lambda item: item[0]._meta.label,
)
TENANT_MODELS = [pytest.param(model, id=model._meta.label) for model, _ in TENANT_ADMINS]
PLATFORM_MODELS = [pytest.param(model, id=model._meta.label) for model in (Tenant, PeriodicTask, OutstandingToken)]
STAFF = [Role.ADMIN, Role.SUPERVISOR]
MISSING_PK = 2_000_000_000


def _url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _login(client, user, tenant=None):
    client.force_login(user)
    if tenant is not None:
        session = client.session
        session[SESSION_TENANT_KEY] = tenant.pk
        session.save()
    return client


def _messages(response):
    """The messages of this response's request. Read them once: the client keeps no message cookie,
    so the next request starts without leftovers."""
    response.client.cookies.pop("messages", None)
    return [str(message) for message in get_messages(response.wsgi_request)]


def _result_pks(response):
    return {obj.pk for obj in response.context["cl"].result_list}


def _index_models(response):
    return {model["object_name"] for app in response.context["app_list"] for model in app["models"]}


class World:
    def __init__(self, a, b, people, objects_a, objects_b):
        self.a, self.b = a, b
        self.people = people
        self.objects_a, self.objects_b = objects_a, objects_b
        self.markers_b = registry.tenant_markers(b, objects_b) | {people["admin_b"].email, people["admin_b"].name}


@pytest.fixture
def world(tenant, make_member):
    other = TenantFactory(slug="tenant-b-hidden", name="Tenant B Hidden Ltd")
    people = {
        Role.ADMIN: make_member(tenant, Role.ADMIN, name="Admin of A", email="admin-a@example.com"),
        Role.SUPERVISOR: make_member(tenant, Role.SUPERVISOR, name="Supervisor of A", email="sup-a@example.com"),
        Role.AGENT: make_member(tenant, Role.AGENT, name="Agent of A", email="agent-a@example.com"),
        "admin_b": make_member(other, Role.ADMIN, name="Admin of B", email="admin-b-hidden@example.com"),
    }
    return World(tenant, other, people, registry.build_all(tenant), registry.build_all(other))


@pytest.fixture
def superuser(db):
    return UserFactory(is_superuser=True, name="Platform Root", email="root@example.com")


def _staff_client(client, world, role):
    return _login(client, world.people[role], world.a)


def _a_pks(world, model):
    return set(model.all_tenants.filter(tenant=world.a).values_list("pk", flat=True))


def _a_member_pks(world):
    return set(
        User.objects.filter(memberships__tenant=world.a, memberships__is_active=True).values_list("pk", flat=True)
    )


# --- Rows -------------------------------------------------------------------------------


def test_every_tenant_owned_model_admin_is_swept():
    assert {model for model, _ in TENANT_ADMINS} >= {
        Membership,
        Invite,
        Pipeline,
        Stage,
        DealLabel,
        Deal,
        Task,
        Meeting,
        Escalation,
    }
    for model, _ in TENANT_ADMINS:
        assert model in registry.FACTORIES, f"register a factory for {model._meta.label} in tests/registry.py"


@pytest.mark.parametrize("role", STAFF)
@pytest.mark.parametrize("model", TENANT_MODELS)
def test_changelist_shows_only_own_tenant_rows(client, world, model, role):
    response = _staff_client(client, world, role).get(_url(model, "changelist"))
    assert response.status_code == 200
    assert _result_pks(response) == _a_pks(world, model)
    assert world.objects_a[model].pk in _result_pks(response)
    body = response.content.decode()
    assert [marker for marker in world.markers_b if marker in body] == []
    # No tenant column or filter for people inside one tenant.
    assert "tenant" not in response.context["cl"].list_filter
    assert "tenant" not in response.context["cl"].list_display


def _without_ids(texts, *ids):
    pattern = re.compile("|".join(re.escape(str(value)) for value in ids))
    return [pattern.sub("<id>", text) for text in texts]


@pytest.mark.parametrize("view", ["change", "delete", "history"])
@pytest.mark.parametrize("role", STAFF)
@pytest.mark.parametrize("model", TENANT_MODELS)
def test_another_tenants_object_is_like_a_missing_one(client, world, model, role, view):
    client = _staff_client(client, world, role)
    b_pk = world.objects_b[model].pk
    b_response = client.get(_url(model, view, b_pk))
    b_messages = _messages(b_response)
    missing_response = client.get(_url(model, view, MISSING_PK))
    missing_messages = _messages(missing_response)
    own_response = client.get(_url(model, view, world.objects_a[model].pk))
    _assert_like_missing(world, client, (b_response, b_messages), (missing_response, missing_messages), b_pk)
    if own_response.status_code == 403:
        # The role may not use this view at all: refused before any lookup, whoever owns the pk.
        assert b_response.status_code == 403
    else:
        # Django's answer for a missing object; the same view works for A's own object.
        assert (b_response.status_code, b_response["Location"]) == (302, reverse("admin:index"))
        assert own_response.status_code == 200


@pytest.mark.parametrize("view", ["change", "delete"])
@pytest.mark.parametrize("model", TENANT_MODELS)
def test_posting_to_another_tenants_object_writes_nothing(client, world, model, view):
    client = _staff_client(client, world, Role.ADMIN)
    b_pk = world.objects_b[model].pk
    payload = {"post": "yes", "role": Role.ADMIN, "is_active": "", "email": "x@example.com", "_save": "Save"}
    before = registry.tenant_snapshot(world.b)
    b_response = client.post(_url(model, view, b_pk), payload)
    b_messages = _messages(b_response)
    missing_response = client.post(_url(model, view, MISSING_PK), payload)
    missing_messages = _messages(missing_response)
    _assert_like_missing(world, client, (b_response, b_messages), (missing_response, missing_messages), b_pk)
    assert b_response.status_code in (302, 403)
    assert registry.tenant_snapshot(world.b) == before


def _assert_like_missing(world, client, b, missing, b_pk):
    """Same status, same redirect, same messages (but for the id itself), nothing of B's shown."""
    (b_response, b_messages), (missing_response, missing_messages) = b, missing
    assert b_response.status_code == missing_response.status_code
    assert b_response.get("Location") == missing_response.get("Location")
    assert _without_ids(b_messages, b_pk) == _without_ids(missing_messages, MISSING_PK)
    assert len(b_messages) == (1 if b_response.status_code == 302 else 0)
    body = b_response.content.decode()
    if b_response.status_code == 302:
        body += client.get(b_response["Location"]).content.decode()
    assert [marker for marker in world.markers_b if marker in body] == []


@pytest.mark.parametrize("model", TENANT_MODELS)
def test_actions_skip_another_tenants_rows(client, world, model):
    client = _staff_client(client, world, Role.ADMIN)
    changelist = client.get(_url(model, "changelist"))
    actions = [name for name, _label in changelist.context["action_form"].fields["action"].choices if name]
    assert actions, f"{model._meta.label} offers no action to its tenant admin"
    before = registry.tenant_snapshot(world.b)
    for action in actions:
        response = client.post(
            _url(model, "changelist"),
            {"action": action, "_selected_action": [world.objects_b[model].pk], "index": 0, "post": "yes"},
        )
        assert response.status_code in (200, 302), action
    assert registry.tenant_snapshot(world.b) == before


# --- Choices and writes -------------------------------------------------------------------


def _admin_request(world, role):
    request = RequestFactory().get("/admin/")
    request.user = world.people[role]
    request.tenant = world.a
    request.session = SessionStore()
    request.session[SESSION_TENANT_KEY] = world.a.pk
    return request


def _relation_fields(model):
    return [
        field
        for field in model._meta.get_fields()
        if (field.many_to_one or field.many_to_many) and field.concrete and field.name != "tenant"
    ]


def test_foreign_key_choices_are_the_tenants_own(world):
    checked = []
    request = _admin_request(world, Role.ADMIN)
    with tenant_context(world.a):
        for model, model_admin in TENANT_ADMINS:
            # Every relation the model has, through the admin's own formfield hook…
            for field in _relation_fields(model):
                formfield = model_admin.formfield_for_dbfield(field, request)
                if formfield is None:
                    continue
                checked.append((model, field.name, _choice_pks(world, field.related_model, formfield.queryset)))
            # …and every choice field of the add and change forms the admin really builds.
            for obj in (None, world.objects_a[model]):
                form = model_admin.get_form(request, obj)()
                for name, formfield in form.fields.items():
                    if isinstance(formfield, ModelChoiceField | ModelMultipleChoiceField):
                        related = formfield.queryset.model
                        checked.append((model, name, _choice_pks(world, related, formfield.queryset)))
    assert checked, "no relation field found to check"
    assert {(model, name) for model, name, _ in checked} >= {
        (Membership, "user"),
        (Invite, "invited_by"),
        (Invite, "accepted_by"),
    }
    for _model, _name, (shown, expected) in checked:
        assert shown == expected


def test_choices_of_a_tenant_owned_relation_are_the_tenants_own(world):
    """No registered model points at another tenant-owned one yet: a stand-in model (never
    migrated, only its choices are queried) takes TenantScopedAdmin through that branch."""
    from django.db import models
    from django.test.utils import isolate_apps

    from tenants.admin import TenantScopedAdmin

    with isolate_apps("tickets"):

        class Ticket(TenantOwned):  # noqa: DJ008
            invite = models.ForeignKey(Invite, on_delete=models.CASCADE)
            watchers = models.ManyToManyField(Membership)

            class Meta:
                app_label = "tickets"

        model_admin = TenantScopedAdmin(Ticket, admin.site)
        request = _admin_request(world, Role.ADMIN)
        with tenant_context(world.a):
            invite_field = model_admin.formfield_for_dbfield(Ticket._meta.get_field("invite"), request)
            watchers_field = model_admin.formfield_for_dbfield(Ticket._meta.get_field("watchers"), request)
            shown_invites = set(invite_field.queryset.values_list("pk", flat=True))
            shown_memberships = set(watchers_field.queryset.values_list("pk", flat=True))
    assert shown_invites == _a_pks(world, Invite)
    assert shown_memberships == _a_pks(world, Membership)
    assert world.objects_b[Invite].pk not in shown_invites


def _choice_pks(world, related_model, queryset):
    shown = set(queryset.values_list("pk", flat=True))
    if related_model is User:
        return shown, _a_member_pks(world)
    if issubclass(related_model, TenantOwned):
        return shown, _a_pks(world, related_model)
    if related_model is Tenant:
        return shown, {world.a.pk}
    return shown, shown


@pytest.mark.parametrize("role", STAFF)
def test_autocomplete_offers_only_the_tenants_people(client, world, role):
    """Django's autocomplete endpoint answers from the related model's admin queryset."""
    client = _staff_client(client, world, role)
    params = {"app_label": "accounts", "model_name": "membership", "field_name": "user"}
    everyone = client.get("/admin/autocomplete/", {**params, "term": ""})
    assert everyone.status_code == 200
    assert {int(result["id"]) for result in everyone.json()["results"]} == _a_member_pks(world)
    hidden = client.get("/admin/autocomplete/", {**params, "term": "hidden"})
    assert hidden.json()["results"] == []


def test_add_sets_the_tenant_to_the_current_one(client, world, django_capture_on_commit_callbacks):
    from django.core import mail

    client = _staff_client(client, world, Role.ADMIN)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            _url(Invite, "add"),
            {"email": "newcomer@example.com", "role": Role.AGENT, "tenant": world.b.pk, "_save": "Save"},
        )
    assert response.status_code == 302, response.content
    invite = Invite.all_tenants.get(email="newcomer@example.com")
    assert (invite.tenant_id, invite.invited_by_id, invite.role) == (world.a.pk, world.people[Role.ADMIN].pk, "agent")
    assert [message.to for message in mail.outbox] == [["newcomer@example.com"]]


def test_the_tenant_field_is_never_shown_inside_a_tenant(client, world):
    client = _staff_client(client, world, Role.ADMIN)
    for model, _ in TENANT_ADMINS:
        response = client.get(_url(model, "change", world.objects_a[model].pk))
        assert "tenant" not in response.context["adminform"].form.fields, model._meta.label


# --- Who gets in -------------------------------------------------------------------------


def test_agents_cannot_enter_the_admin(client, world):
    client = _login(client, world.people[Role.AGENT], world.a)
    for url in ["/admin/", _url(Membership, "changelist"), _url(Invite, "change", world.objects_a[Invite].pk)]:
        response = client.get(url)
        assert (response.status_code, response["Location"]) == (302, f"/admin/login/?next={url}"), url


def test_people_without_membership_cannot_enter_the_admin(client, db):
    response = _login(client, UserFactory()).get("/admin/")
    assert (response.status_code, response["Location"]) == (302, "/admin/login/?next=/admin/")


def test_the_role_in_the_session_tenant_decides(client, world):
    """A's admin who is also an agent of B, with B in the session: B's role counts, not A's."""
    admin_a = world.people[Role.ADMIN]
    MembershipFactory(tenant=world.b, user=admin_a, role=Role.AGENT)
    response = _login(client, admin_a, world.b).get("/admin/")
    assert (response.status_code, response["Location"]) == (302, "/admin/login/?next=/admin/")


@pytest.mark.parametrize("model", [Membership, Invite])
def test_supervisors_view_admin_only_models_but_cannot_change_them(client, world, model):
    client = _staff_client(client, world, Role.SUPERVISOR)
    obj = world.objects_a[model]
    before = registry.tenant_snapshot(world.a)

    changelist = client.get(_url(model, "changelist"))
    assert changelist.status_code == 200
    assert changelist.context["has_add_permission"] is False
    assert (
        changelist.context["action_form"] is None
        or [name for name, _ in changelist.context["action_form"].fields["action"].choices if name] == []
    )
    change = client.get(_url(model, "change", obj.pk))
    assert change.status_code == 200
    assert (change.context["has_change_permission"], change.context["has_delete_permission"]) == (False, False)

    assert client.post(_url(model, "change", obj.pk), {"role": Role.ADMIN, "is_active": ""}).status_code == 403
    assert client.get(_url(model, "delete", obj.pk)).status_code == 403
    assert client.post(_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert client.get(_url(model, "add")).status_code == 403
    assert registry.tenant_snapshot(world.a) == before


@pytest.mark.parametrize(
    ("model", "action"), [(Membership, "deactivate"), (Membership, "activate"), (Invite, "revoke")]
)
def test_supervisors_cannot_run_admin_only_actions(client, world, model, action):
    target = Membership.all_tenants.get(user=world.people[Role.AGENT]) if model is Membership else None
    target = target or world.objects_a[model]
    if action == "activate":
        Membership.all_tenants.filter(pk=target.pk).update(is_active=False)
    client = _staff_client(client, world, Role.SUPERVISOR)
    before = registry.tenant_snapshot(world.a)
    client.post(_url(model, "changelist"), {"action": action, "_selected_action": [target.pk], "index": 0})
    assert registry.tenant_snapshot(world.a) == before


def test_admins_run_membership_actions_through_the_services(client, world):
    client = _staff_client(client, world, Role.ADMIN)
    agent_membership = Membership.all_tenants.get(user=world.people[Role.AGENT])
    own_membership = Membership.all_tenants.get(user=world.people[Role.ADMIN])
    response = client.post(
        _url(Membership, "changelist"),
        {"action": "deactivate", "_selected_action": [agent_membership.pk, own_membership.pk], "index": 0},
    )
    assert response.status_code == 302
    assert sorted(_messages(response)) == [
        "Agent of A deactivated.",
        "You cannot deactivate yourself or change your own role.",
    ]
    agent_membership.refresh_from_db()
    own_membership.refresh_from_db()
    assert (agent_membership.is_active, own_membership.is_active) == (False, True)


def test_admins_revoke_invites_through_the_services(client, world):
    client = _staff_client(client, world, Role.ADMIN)
    invite = world.objects_a[Invite]
    response = client.post(
        _url(Invite, "changelist"), {"action": "revoke", "_selected_action": [invite.pk], "index": 0}
    )
    assert response.status_code == 302
    assert _messages(response) == [f"{invite.email} revoked."]
    invite.refresh_from_db()
    assert invite.revoked_at is not None


def test_memberships_are_deactivated_not_deleted_inside_a_tenant(client, world):
    """Deleting a membership would skip the last-admin rule; deactivation goes through services."""
    client = _staff_client(client, world, Role.ADMIN)
    own = Membership.all_tenants.get(user=world.people[Role.ADMIN])
    assert client.get(_url(Membership, "delete", own.pk)).status_code == 403
    assert client.post(_url(Membership, "delete", own.pk), {"post": "yes"}).status_code == 403
    changelist = client.get(_url(Membership, "changelist"))
    assert "delete_selected" not in dict(changelist.context["action_form"].fields["action"].choices)
    assert Membership.all_tenants.filter(pk=own.pk, is_active=True).exists()


# --- Users ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", STAFF)
def test_user_changelist_shows_only_the_tenants_members(client, world, role):
    response = _staff_client(client, world, role).get(_url(User, "changelist"))
    assert response.status_code == 200
    assert _result_pks(response) == _a_member_pks(world)
    assert world.objects_a[Membership].user_id in _result_pks(response)
    body = response.content.decode()
    assert [marker for marker in world.markers_b if marker in body] == []


@pytest.mark.parametrize("view", ["change", "history"])
@pytest.mark.parametrize("role", STAFF)
def test_another_tenants_user_is_like_a_missing_one(client, world, role, view):
    client = _staff_client(client, world, role)
    b_user = world.objects_b[Membership].user_id
    b_response = client.get(_url(User, view, b_user))
    b_messages = _messages(b_response)
    missing_response = client.get(_url(User, view, MISSING_PK))
    missing_messages = _messages(missing_response)
    _assert_like_missing(world, client, (b_response, b_messages), (missing_response, missing_messages), b_user)
    assert (b_response.status_code, b_response["Location"]) == (302, reverse("admin:index"))
    assert client.get(_url(User, view, world.objects_a[Membership].user_id)).status_code == 200


def test_tenant_admins_edit_names_only(client, world):
    client = _staff_client(client, world, Role.ADMIN)
    member = world.objects_a[Membership].user
    response = client.post(
        _url(User, "change", member.pk),
        {"name": "Renamed", "email": "stolen@example.com", "is_superuser": "on", "is_active": "", "_save": "Save"},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    member.refresh_from_db()
    assert (member.name, member.email, member.is_superuser, member.is_active) == (
        "Renamed",
        "member-shared@example.com",
        False,
        True,
    )


def test_supervisors_cannot_edit_people(client, world):
    client = _staff_client(client, world, Role.SUPERVISOR)
    member = world.objects_a[Membership].user
    assert client.post(_url(User, "change", member.pk), {"name": "Renamed"}).status_code == 403
    member.refresh_from_db()
    assert member.name == "Member of shared"


@pytest.mark.parametrize("role", STAFF)
def test_tenant_staff_cannot_set_passwords(client, world, role):
    """People may belong to other tenants too: only the platform sets a password directly (tenant
    admins send a reset link, which goes to the person)."""
    client = _staff_client(client, world, role)
    member = world.objects_a[Membership].user
    password_hash = member.password
    url = reverse("admin:auth_user_password_change", args=[member.pk])
    assert client.get(url).status_code == 403
    response = client.post(url, {"password1": "Brand-New-Secret-9", "password2": "Brand-New-Secret-9"})
    assert response.status_code == 403
    member.refresh_from_db()
    assert member.password == password_hash


def test_the_platform_sets_passwords(client, world, superuser):
    member = world.objects_a[Membership].user
    url = reverse("admin:auth_user_password_change", args=[member.pk])
    assert _login(client, superuser).get(url).status_code == 200


# --- Platform-only models and the platform view ----------------------------------------------


@pytest.mark.parametrize("role", STAFF)
@pytest.mark.parametrize("model", PLATFORM_MODELS)
def test_platform_models_are_hidden_from_tenant_staff(client, world, model, role):
    client = _staff_client(client, world, role)
    index = client.get("/admin/")
    assert index.status_code == 200
    assert model._meta.object_name not in _index_models(index)
    assert client.get(_url(model, "changelist")).status_code == 403
    assert client.get(_url(model, "add")).status_code == 403
    if model is Tenant:
        assert client.get(_url(Tenant, "change", world.a.pk)).status_code == 403


def test_the_index_lists_the_tenant_models_for_tenant_admins(client, world):
    index = _staff_client(client, world, Role.ADMIN).get("/admin/")
    assert _index_models(index) == {
        "Membership", "Invite", "User",
        "Contact", "Tag", "ContactFieldDefinition", "ContactImport",
        "Queue", "QuickReply", "ScheduledMessage", "Ticket",
        "Connection", "InboundEvent", "MessageTemplate",
        "Campaign", "CampaignRecipient",
        "Pipeline", "Stage", "DealLabel", "Deal", "Task", "Meeting", "Escalation",
        "Article", "ArticleProposal",
        "AISettings", "AIUsage", "TicketInsight", "AIAgent", "BotSession",
        "Flow", "FlowRun",
    }  # fmt: skip


@pytest.mark.parametrize("model", PLATFORM_MODELS)
def test_platform_models_are_visible_to_a_superuser(client, world, superuser, model):
    client = _login(client, superuser)
    assert model._meta.object_name in _index_models(client.get("/admin/"))
    assert client.get(_url(model, "changelist")).status_code == 200


@pytest.mark.parametrize("model", TENANT_MODELS)
def test_a_superuser_without_membership_sees_every_tenant_with_a_filter(client, world, superuser, model):
    client = _login(client, superuser)
    response = client.get(_url(model, "changelist"))
    assert response.status_code == 200
    assert _result_pks(response) == set(model.all_tenants.values_list("pk", flat=True))
    assert {world.objects_a[model].pk, world.objects_b[model].pk} <= _result_pks(response)
    assert response.context["cl"].list_filter[0] == "tenant"
    assert "tenant" in response.context["cl"].list_display

    only_b = client.get(_url(model, "changelist"), {"tenant__id__exact": world.b.pk})
    assert _result_pks(only_b) == set(model.all_tenants.filter(tenant=world.b).values_list("pk", flat=True))

    assert client.get(_url(model, "change", world.objects_b[model].pk)).status_code == 200


def test_a_superuser_with_a_membership_works_inside_that_tenant(client, world, superuser):
    MembershipFactory(tenant=world.a, user=superuser, role=Role.AGENT)
    client = _login(client, superuser, world.a)
    response = client.get(_url(Membership, "changelist"))
    assert _result_pks(response) == _a_pks(world, Membership)
    assert "tenant" not in response.context["cl"].list_filter


def test_the_platform_adds_a_membership_to_a_chosen_tenant(client, world, superuser):
    client = _login(client, superuser)
    newcomer = UserFactory(email="newcomer@example.com")
    form = client.get(_url(Membership, "add")).context["adminform"].form
    assert "tenant" in form.fields
    response = client.post(
        _url(Membership, "add"),
        {"tenant": world.b.pk, "user": newcomer.pk, "role": Role.SUPERVISOR, "is_active": "on", "_save": "Save"},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    membership = Membership.all_tenants.get(user=newcomer)
    assert (membership.tenant_id, membership.role, membership.is_active) == (world.b.pk, Role.SUPERVISOR, True)


def test_tenant_admins_cannot_add_memberships(client, world):
    """People join a tenant through invites (which respect the seat limit)."""
    client = _staff_client(client, world, Role.ADMIN)
    assert client.get(_url(Membership, "add")).status_code == 403


# --- Role changes go through the services ------------------------------------------------------


def _change_membership(client, membership, **fields):
    data = {"role": membership.role, "is_active": "on" if membership.is_active else "", "_save": "Save"}
    data.update(fields)
    return client.post(_url(Membership, "change", membership.pk), data)


def test_an_admin_changes_another_members_role(client, world):
    client = _staff_client(client, world, Role.ADMIN)
    supervisor = Membership.all_tenants.get(user=world.people[Role.SUPERVISOR])
    response = _change_membership(client, supervisor, role=Role.ADMIN)
    assert response.status_code == 302
    assert "Role updated." in _messages(response)
    supervisor.refresh_from_db()
    assert supervisor.role == Role.ADMIN


def test_an_admin_cannot_change_their_own_role(client, world):
    client = _staff_client(client, world, Role.ADMIN)
    own = Membership.all_tenants.get(user=world.people[Role.ADMIN])
    response = _change_membership(client, own, role=Role.AGENT)
    assert "You cannot deactivate yourself or change your own role." in _messages(response)
    own.refresh_from_db()
    assert own.role == Role.ADMIN


def test_the_last_admin_cannot_be_demoted_through_the_admin(client, world, superuser):
    """The platform superuser demotes B's only admin: the services' last-admin rule refuses."""
    client = _login(client, superuser)
    only_admin = Membership.all_tenants.get(user=world.people["admin_b"])
    response = _change_membership(client, only_admin, role=Role.AGENT)
    assert response.status_code == 302
    assert "The workspace must keep at least one active admin." in _messages(response)
    only_admin.refresh_from_db()
    assert (only_admin.role, only_admin.is_active) == (Role.ADMIN, True)

    response = _change_membership(client, only_admin, is_active="")
    assert "The workspace must keep at least one active admin." in _messages(response)
    only_admin.refresh_from_db()
    assert (only_admin.role, only_admin.is_active) == (Role.ADMIN, True)


def test_the_platform_changes_roles_in_any_tenant(client, world, superuser):
    client = _login(client, superuser)
    member_b = world.objects_b[Membership]
    response = _change_membership(client, member_b, role=Role.SUPERVISOR)
    assert "Role updated." in _messages(response)
    member_b.refresh_from_db()
    assert (member_b.role, member_b.tenant_id) == (Role.SUPERVISOR, world.b.pk)


def test_deactivation_through_the_change_form_respects_the_seat_count(client, world):
    client = _staff_client(client, world, Role.ADMIN)
    supervisor = Membership.all_tenants.get(user=world.people[Role.SUPERVISOR])
    response = _change_membership(client, supervisor, is_active="")
    assert "Access updated." in _messages(response)
    supervisor.refresh_from_db()
    assert supervisor.is_active is False

    Tenant.objects.filter(pk=world.a.pk).update(max_users=4)  # admin, agent and member fill 3 of 4
    MembershipFactory(tenant=world.a)  # the last seat
    response = _change_membership(client, supervisor, is_active="on")
    assert "Your plan allows 4 users and all seats are taken." in _messages(response)
    supervisor.refresh_from_db()
    assert supervisor.is_active is False


# --- The console's own pages (not ModelAdmin views) -------------------------------------------

CONSOLE_PAGES = [
    ("admin:dashboard", {}),
    ("admin:dashboard_csv", {"dataset": "tickets"}),
    ("admin:dashboard_csv", {"dataset": "waiting"}),
    ("admin:dashboard_csv", {"dataset": "agents"}),
    ("admin:tenant_settings", {}),
    ("admin:crm_contact_import", {}),
]


@pytest.mark.parametrize(("name", "kwargs"), CONSOLE_PAGES)
def test_console_pages_show_nothing_of_another_tenant(client, world, name, kwargs):
    url = reverse(name, kwargs=kwargs)
    for role in STAFF:
        response = _staff_client(client, world, role).get(url)
        assert response.status_code in (200, 403), (url, role)
        # The chart data's <script type="application/json"> is no leak of B's (JSON) inbound event.
        body = response.content.decode().replace('type="application/json"', "")
        assert [marker for marker in world.markers_b if marker in body] == [], (url, role)


@pytest.mark.parametrize(("name", "kwargs"), CONSOLE_PAGES)
def test_agents_cannot_open_console_pages(client, world, name, kwargs):
    url = reverse(name, kwargs=kwargs)
    response = _login(client, world.people[Role.AGENT], world.a).get(url)
    assert (response.status_code, response["Location"]) == (302, f"/admin/login/?next={url}")


def test_the_qr_page_of_another_tenants_connection_is_like_a_missing_one(client, world):
    from whatsapp.models import Connection

    client = _staff_client(client, world, Role.ADMIN)
    b_pk = world.objects_b[Connection].pk
    b_response = client.get(reverse("admin:whatsapp_connection_qrcode", args=[b_pk]))
    b_messages = _messages(b_response)
    missing_response = client.get(reverse("admin:whatsapp_connection_qrcode", args=[MISSING_PK]))
    missing_messages = _messages(missing_response)
    _assert_like_missing(world, client, (b_response, b_messages), (missing_response, missing_messages), b_pk)
    assert client.get(reverse("admin:whatsapp_connection_qrcode_poll", args=[b_pk])).status_code == 404
