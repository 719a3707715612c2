"""config.sql: the hot paths' reads and writes, which must give what the ORM gives and write what `save()` writes."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from config import sql
from crm.models import Contact, Tag
from crm.tests.factories import ContactFactory
from tenants.context import tenant_context
from tenants.models import TenantIdValue

pytestmark = pytest.mark.django_db


def _columns(contact: Contact) -> dict:
    row = Contact.all_tenants.filter(pk=contact.pk).values().get()
    return {key: value for key, value in row.items() if key not in ("id", "created_at", "updated_at")}


def test_insert_writes_the_row_save_would_and_sets_its_id(tenant):
    saved = Contact(tenant=tenant, wa_id="5511900000001", phone="5511900000001", profile_name="Ana")
    saved.save()
    inserted = Contact(tenant=tenant, wa_id="5511900000002", phone="5511900000002", profile_name="Ana")
    assert sql.insert(inserted) is True
    assert inserted.pk is not None and not inserted._state.adding
    assert inserted.created_at is not None and inserted.updated_at is not None  # pre_save: auto_now(_add)
    expected = {**_columns(saved), "wa_id": "5511900000002", "phone": "5511900000002"}
    assert _columns(inserted) == expected


def test_insert_refused_by_a_unique_index_writes_nothing_and_runs_nothing_after_it(tenant):
    existing = ContactFactory(tenant=tenant, wa_id="5511900000003")
    tag = Tag.all_tenants.create(tenant=tenant, name="vip")
    twin = Contact(tenant=tenant, wa_id="5511900000003", profile_name="Twin")
    tag_it = (
        f"INSERT INTO {Contact.tags.through._meta.db_table} (contact_id, tag_id) SELECT id, %s FROM inserted",
        [tag.pk],
    )
    assert sql.insert(twin, then=[tag_it]) is False  # no IntegrityError, so no savepoint is needed
    assert twin.pk is None
    assert list(Contact.all_tenants.filter(tenant=tenant).values_list("pk", flat=True)) == [existing.pk]
    assert not Contact.tags.through.objects.exists()

    other = Contact(tenant=tenant, wa_id="5511900000004")
    assert sql.insert(other, then=[tag_it]) is True
    assert list(Contact.tags.through.objects.values_list("contact_id", "tag_id")) == [(other.pk, tag.pk)]


def test_update_writes_the_named_fields_and_auto_now_within_the_rows_tenant(tenant, other_tenant):
    contact = ContactFactory(tenant=tenant, name="Before", notes="kept")
    before = contact.updated_at
    contact.name, contact.notes = "After", "not written"
    sql.update(contact, ["name", "updated_at"])
    row = Contact.all_tenants.get(pk=contact.pk)
    assert (row.name, row.notes) == ("After", "kept")
    assert row.updated_at == contact.updated_at > before

    contact.tenant_id, contact.name = other_tenant.pk, "Elsewhere"  # a row is only ever updated in its tenant
    with pytest.raises(DatabaseError, match="did not affect any rows"), transaction.atomic():
        sql.update(contact, ["name"])  # as save(update_fields=…) says of a row it cannot find
    assert Contact.all_tenants.get(pk=contact.pk).name == "After"


def test_the_tenant_filter_compares_a_bigint_and_resolves_to_itself(tenant):
    value = TenantIdValue(tenant.pk)
    assert value.resolve_expression() is value
    with tenant_context(tenant), CaptureQueriesContext(connection) as captured:
        list(Contact.objects.filter(pk=0))
    assert f'"crm_contact"."tenant_id" = ({tenant.pk})::bigint' in captured.captured_queries[0]["sql"]


def _rows(model, pk):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql.columns(model, 't')} FROM {model._meta.db_table} t WHERE t.id = %s", [pk])  # noqa: S608
        return cursor.fetchone()


def test_instance_builds_what_the_orm_builds_without_model_init(tenant, django_user_model):
    from accounts.models import Membership
    from tickets.tests.factories import TicketFactory

    ticket = TicketFactory(tenant=tenant)
    user = django_user_model.objects.create_user(email="ana@example.com", password="x", name="Ana")
    membership = Membership.all_tenants.create(tenant=tenant, user=user)
    for model, pk in [(type(ticket), ticket.pk), (Contact, ticket.contact_id), (django_user_model, user.pk),
                      (Membership, membership.pk), (type(tenant), tenant.pk)]:  # fmt: skip
        assert sql._init_is_plain(model), model
        built = sql.instance(model, _rows(model, pk))
        with tenant_context(tenant):
            loaded = model._base_manager.get(pk=pk)
        assert type(built) is model and built.pk == pk
        assert not built._state.adding and built._state.db == loaded._state.db == "default"
        assert {k: v for k, v in vars(built).items() if k != "_state"} == {
            k: v for k, v in vars(loaded).items() if k != "_state"
        }
        assert built.__reduce__()[1] == loaded.__reduce__()[1]  # (pickles as the ORM's)
    built = sql.instance(django_user_model, _rows(django_user_model, user.pk))
    assert str(built.avatar) == "" and not built.avatar  # a FieldFile on access, as from the ORM


def test_instance_falls_back_to_model_init_when_something_hooks_into_it(tenant):
    from django.db.models import signals

    def hook(sender, instance, **kwargs):
        instance.hooked = True

    signals.post_init.connect(hook, sender=Tag)
    sql._init_is_plain.cache_clear()
    try:
        tag = Tag.all_tenants.create(tenant=tenant, name="vip")
        assert sql.instance(Tag, _rows(Tag, tag.pk)).hooked is True
    finally:
        signals.post_init.disconnect(hook, sender=Tag)
        sql._init_is_plain.cache_clear()
    assert sql._init_is_plain(Tag)
