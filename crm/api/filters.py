import django_filters

from crm import selectors
from crm.models import Contact


class ContactFilter(django_filters.FilterSet):
    """The filters of the contacts list, shared by the CSV export."""

    search = django_filters.CharFilter(
        method="filter_search", label="Name, WhatsApp profile name, email or number (any formatting)."
    )
    tag = django_filters.CharFilter(method="filter_tag", label="Tag id or name.")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    opted_out = django_filters.BooleanFilter()

    class Meta:
        model = Contact
        fields = ["search", "tag", "created_after", "created_before", "opted_out"]

    def filter_search(self, queryset, name, value):
        return selectors.contact_search(queryset, value)

    def filter_tag(self, queryset, name, value):
        value = value.strip()
        if value.isdigit():
            return queryset.filter(tags__id=int(value))
        return queryset.filter(tags__name__iexact=value)
