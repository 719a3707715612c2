import django_filters

from knowledge.models import Article, ArticleProposal, Language


class ArticleFilter(django_filters.FilterSet):
    # Declared one by one: generated filters would read the tenant-scoped manager at import time.
    status = django_filters.ChoiceFilter(choices=Article.Status.choices)
    language = django_filters.ChoiceFilter(choices=Language.choices)
    category = django_filters.CharFilter(field_name="category", lookup_expr="iexact")
    tag = django_filters.CharFilter(method="filter_tag", label="Articles with this tag.")
    title = django_filters.CharFilter(field_name="title", lookup_expr="icontains", label="Part of the title.")

    class Meta:
        model = Article
        fields = ["status", "language", "category", "tag", "title"]

    def filter_tag(self, queryset, name, value):
        return queryset.filter(tags__contains=[value.strip().lower()])


class ArticleProposalFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ArticleProposal.Status.choices)
    kind = django_filters.ChoiceFilter(choices=ArticleProposal.Kind.choices)

    class Meta:
        model = ArticleProposal
        fields = ["status", "kind"]
