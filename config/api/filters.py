"""FilterSets for the hot list endpoints."""

import copy

from django_filters import rest_framework as filters


class RequestIndependentFilterSet(filters.FilterSet):
    """A FilterSet whose filters and form fields do not depend on the request (no querysets or
    choices computed from it), so they are prepared once per class instead of once per request:
    django-filter deep-copies every filter (querysets, choices and all) and builds a new form class
    with new fields for each request — about a millisecond of every list request. Here each filter
    is copied shallowly (its `parent`, `model` and method binding are the request's own) and the
    form class, whose fields Django copies for each form anyway, is kept."""

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        base_filters = self.base_filters
        self.base_filters = {}  # nothing to deep-copy
        try:
            super().__init__(data, queryset, request=request, prefix=prefix)
        finally:
            del self.base_filters  # back to the class's
        self.filters = {name: copy.copy(filter_) for name, filter_ in base_filters.items()}
        for filter_ in self.filters.values():
            filter_.model = self.queryset.model
            filter_.parent = self
            if filter_.method is not None:
                filter_.method = filter_.method  # its FilterMethod bound to this copy, not the class's

    def get_form_class(self):
        cls = type(self)
        if "_form_class" not in cls.__dict__:
            cls._form_class = super().get_form_class()
        return cls._form_class
