import django_filters

from crm import selectors_sales
from crm.models import Deal, DealActivity, Escalation, Meeting, Stage, Task


class DealFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", label="Title, contact name or number.")
    pipeline = django_filters.NumberFilter(field_name="stage__pipeline_id")
    label = django_filters.NumberFilter(field_name="labels__id")
    status = django_filters.ChoiceFilter(choices=Deal.Status.choices)
    source = django_filters.CharFilter()
    stage = django_filters.NumberFilter(field_name="stage_id")
    owner = django_filters.NumberFilter(field_name="owner_id")
    contact = django_filters.NumberFilter(field_name="contact_id")
    expected_close_after = django_filters.DateFilter(field_name="expected_close_date", lookup_expr="gte")
    expected_close_before = django_filters.DateFilter(field_name="expected_close_date", lookup_expr="lte")

    class Meta:
        model = Deal
        fields = ["search", "pipeline", "stage", "status", "owner", "contact", "label", "source"]

    def filter_search(self, queryset, name, value):
        return selectors_sales.deal_search(queryset, value)


class StageFilter(django_filters.FilterSet):
    pipeline = django_filters.NumberFilter(field_name="pipeline_id")

    class Meta:
        model = Stage
        fields = ["pipeline"]


class ActivityFilter(django_filters.FilterSet):
    deal = django_filters.NumberFilter(field_name="deal_id")
    type = django_filters.ChoiceFilter(choices=DealActivity.Type.choices)

    class Meta:
        model = DealActivity
        fields = ["deal", "type"]


class TaskFilter(django_filters.FilterSet):
    done = django_filters.BooleanFilter()
    assignee = django_filters.NumberFilter(field_name="assignee_id")
    contact = django_filters.NumberFilter(field_name="contact_id")
    deal = django_filters.NumberFilter(field_name="deal_id")
    ticket = django_filters.NumberFilter(field_name="ticket_id")
    due_after = django_filters.IsoDateTimeFilter(field_name="due_at", lookup_expr="gte")
    due_before = django_filters.IsoDateTimeFilter(field_name="due_at", lookup_expr="lt")

    class Meta:
        model = Task
        fields = ["done", "assignee", "contact", "deal", "ticket", "due_after", "due_before"]


class MeetingFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Meeting.Status.choices)
    contact = django_filters.NumberFilter(field_name="contact_id")
    deal = django_filters.NumberFilter(field_name="deal_id")
    organizer = django_filters.NumberFilter(field_name="organizer_id")
    starts_after = django_filters.IsoDateTimeFilter(field_name="starts_at", lookup_expr="gte")
    starts_before = django_filters.IsoDateTimeFilter(field_name="starts_at", lookup_expr="lt")

    class Meta:
        model = Meeting
        fields = ["status", "contact", "deal", "organizer", "starts_after", "starts_before"]


class EscalationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Escalation.Status.choices)
    priority = django_filters.ChoiceFilter(choices=Escalation.Priority.choices)
    assigned_to = django_filters.NumberFilter(field_name="assigned_to_id")
    raised_by = django_filters.NumberFilter(field_name="raised_by_id")
    ticket = django_filters.NumberFilter(field_name="ticket_id")

    class Meta:
        model = Escalation
        fields = ["status", "priority", "assigned_to", "raised_by", "ticket"]
