"""crm.selectors.tags_set_loaded: tags read with their object answer `obj.tags.all()` as
`prefetch_related`'s results would."""

import pytest
from django.db.models import QuerySet

from crm.models import Tag
from crm.selectors import tags_set_loaded
from crm.tests.factories import ContactFactory
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db


def test_loaded_tags_are_the_objects_tags_without_a_query(tenant, django_assert_num_queries):
    with tenant_context(tenant):
        vip, late, other = (Tag.objects.create(name=name) for name in ("vip", "late", "other"))
        tagged, untagged = ContactFactory(tenant=tenant), ContactFactory(tenant=tenant)
        tagged.tags.set([vip, late])
        tags_set_loaded(tagged, [late, vip])
        tags_set_loaded(untagged, [])
        with django_assert_num_queries(0):
            assert list(tagged.tags.all()) == [late, vip]
            assert tagged.tags.count() == 2 and tagged.tags.exists()
            assert list(untagged.tags.all()) == [] and not untagged.tags.exists()
            assert list(untagged.tags.filter(name="vip")) == []  # nothing can match: no query
        # Narrowed, they are a query of those tags (whatever else the tenant has).
        assert isinstance(tagged.tags.all(), QuerySet)
        assert list(tagged.tags.filter(name__startswith="v")) == [vip]
        assert sorted(tagged.tags.values_list("name", flat=True)) == ["late", "vip"]
        assert other.pk not in set(tagged.tags.all().order_by().values_list("pk", flat=True))
        tagged.tags.remove(late)  # a change through the object drops what was loaded
        assert list(tagged.tags.all()) == [vip]
