"""config.api.filters.RequestIndependentFilterSet: filters copied shallowly, one form class."""

import pytest
from django_filters import rest_framework as filters

from config.api.filters import RequestIndependentFilterSet
from tenants.models import Tenant
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


class _TenantFilter(RequestIndependentFilterSet):
    slug = filters.CharFilter(method="filter_slug")
    language = filters.ChoiceFilter(choices=Tenant.Language.choices)

    class Meta:
        model = Tenant
        fields = ["slug", "language"]

    def filter_slug(self, queryset, name, value):
        self.seen = value
        return queryset.filter(slug=value)


def test_each_filterset_filters_with_its_own_filters_and_shares_one_form_class():
    first_tenant, second_tenant = TenantFactory(slug="first"), TenantFactory(slug="second")
    first = _TenantFilter({"slug": "first"}, Tenant.objects.all())
    second = _TenantFilter({"slug": "second"}, Tenant.objects.all())
    assert list(first.qs) == [first_tenant] and list(second.qs) == [second_tenant]
    assert (first.seen, second.seen) == ("first", "second")  # each method bound to its own filterset
    assert first.filters["slug"] is not second.filters["slug"] and first.filters["slug"].parent is first
    assert getattr(_TenantFilter.base_filters["slug"], "parent", None) is None  # the class's own, untouched
    assert type(first.form) is type(second.form) and first.form is not second.form


def test_the_shared_form_still_validates_each_request():
    refused = _TenantFilter({"language": "xx"}, Tenant.objects.all())
    assert not refused.is_valid() and "language" in refused.errors
    assert _TenantFilter({"language": Tenant.Language.choices[0][0]}, Tenant.objects.all()).is_valid()
