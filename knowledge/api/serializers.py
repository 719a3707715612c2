from rest_framework import serializers

from knowledge.models import Article, ArticleProposal, ArticleVersion, Language


class ArticleSerializer(serializers.ModelSerializer):
    created_by = serializers.IntegerField(source="created_by_id", read_only=True, allow_null=True)
    updated_by = serializers.IntegerField(source="updated_by_id", read_only=True, allow_null=True)

    class Meta:
        model = Article
        fields = [
            "id", "title", "body", "tags", "category", "language", "status", "usage_count", "last_used_at",
            "created_by", "updated_by", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class ArticleWriteSerializer(serializers.Serializer):
    """What a client sends to create or change an article (every field optional on update; a
    title on create). A change of title or body keeps the previous text as a version."""

    title = serializers.CharField(max_length=200, required=False)
    body = serializers.CharField(required=False, allow_blank=True, help_text="Markdown.")
    tags = serializers.ListField(child=serializers.CharField(max_length=60), required=False, max_length=30)
    category = serializers.CharField(max_length=80, required=False, allow_blank=True)
    language = serializers.ChoiceField(choices=Language.choices, required=False)
    status = serializers.ChoiceField(choices=Article.Status.choices, required=False)

    def validate(self, attrs):
        if self.context.get("creating") and not attrs.get("title"):
            raise serializers.ValidationError({"title": ["This field is required."]})
        return attrs


class ArticleVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.IntegerField(source="created_by_id", read_only=True, allow_null=True)

    class Meta:
        model = ArticleVersion
        fields = ["id", "number", "title", "body", "restored_from", "created_by", "created_at"]
        read_only_fields = fields


class SearchRequestSerializer(serializers.Serializer):
    query = serializers.CharField(max_length=1000, help_text="Words or a customer's question; typos are forgiven.")
    limit = serializers.IntegerField(min_value=1, max_value=20, default=5)
    language = serializers.ChoiceField(choices=Language.choices, required=False, allow_null=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=60), required=False, max_length=30)
    categories = serializers.ListField(child=serializers.CharField(max_length=80), required=False, max_length=30)
    include_drafts = serializers.BooleanField(
        default=False, help_text="Admins and supervisors only: search drafts too (ignored for agents)."
    )


class SearchHitSerializer(serializers.Serializer):
    article = ArticleSerializer()
    score = serializers.FloatField()
    headline = serializers.CharField(help_text="An excerpt of the body, HTML-escaped, the matches in <mark>.")


class SearchResultSerializer(serializers.Serializer):
    results = SearchHitSerializer(many=True)


class ImportUploadSerializer(serializers.Serializer):
    files = serializers.ListField(
        child=serializers.FileField(),
        min_length=1,
        max_length=50,
        help_text="CSV (title, body, tags separated by ;, category, language, status) or Markdown files "
        "(the first heading is the title).",
    )
    language = serializers.ChoiceField(choices=Language.choices, default=Language.PT_BR,
                                       help_text="For Markdown files and CSV rows without one.")  # fmt: skip
    category = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")
    status = serializers.ChoiceField(choices=Article.Status.choices, default=Article.Status.DRAFT)


class ImportErrorSerializer(serializers.Serializer):
    file = serializers.CharField()
    row = serializers.IntegerField()
    detail = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class ImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    errors = ImportErrorSerializer(many=True)


class ArticleProposalSerializer(serializers.ModelSerializer):
    article = serializers.IntegerField(source="article_id", read_only=True, allow_null=True)
    source_articles = serializers.SerializerMethodField()
    source_tickets = serializers.SerializerMethodField()
    result_article = serializers.IntegerField(source="result_article_id", read_only=True, allow_null=True)
    reviewed_by = serializers.IntegerField(source="reviewed_by_id", read_only=True, allow_null=True)

    class Meta:
        model = ArticleProposal
        fields = [
            "id", "kind", "status", "title", "body", "reason", "article", "base_version", "source_articles",
            "source_tickets", "language", "model", "result_article", "reviewed_by", "reviewed_at", "review_note",
            "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_source_articles(self, proposal) -> list[int]:
        return [article.pk for article in proposal.source_articles.all()]

    def get_source_tickets(self, proposal) -> list[int]:
        return [ticket.pk for ticket in proposal.source_tickets.all()]


class OptimizeRequestSerializer(serializers.Serializer):
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=ArticleProposal.Kind.choices), required=False, allow_empty=False,
        help_text="What to propose (all kinds when absent).",
    )  # fmt: skip
    articles = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=50,
        help_text="Rewrite only these articles (ids).",
    )  # fmt: skip


class ProposalAcceptSerializer(serializers.Serializer):
    publish = serializers.BooleanField(default=False, help_text="Also publish the resulting article.")
    title = serializers.CharField(max_length=200, required=False, help_text="The reviewer's correction.")
    body = serializers.CharField(required=False, allow_blank=True, help_text="The reviewer's correction (Markdown).")


class ProposalRejectSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)
