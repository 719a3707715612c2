from django.db import transaction
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.filters import OrderingFilter
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role
from accounts.permissions import IsTenantMember, IsTenantStaff
from knowledge import optimize, selectors, services
from knowledge.api import serializers as s
from knowledge.api.filters import ArticleFilter, ArticleProposalFilter
from knowledge.models import Article, ArticleProposal
from tenants.context import require_current_tenant

_STAFF_ROLES = (Role.ADMIN, Role.SUPERVISOR)


def _is_staff(request) -> bool:
    membership = getattr(request, "membership", None)
    return membership is not None and membership.role in _STAFF_ROLES


class ArticleViewSet(viewsets.ModelViewSet):
    """Articles of the knowledge base. Every member reads the published ones and marks one used;
    admins and supervisors also see drafts, write, import and restore versions."""

    queryset = Article.objects.none()  # the model, for the schema and the isolation sweep
    serializer_class = s.ArticleSerializer
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_class = ArticleFilter
    ordering_fields = ["title", "created_at", "updated_at", "usage_count", "last_used_at"]
    ordering = ["title", "id"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.article_list(tenant=require_current_tenant(), published_only=not _is_staff(self.request))

    def get_permissions(self):
        if self.action in ("list", "retrieve", "use"):
            return [IsTenantMember()]
        return [IsTenantStaff()]

    def _write_data(self, request, *, creating: bool) -> dict:
        serializer = s.ArticleWriteSerializer(data=request.data, context={"creating": creating})
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(request=s.ArticleWriteSerializer, responses={201: s.ArticleSerializer})
    def create(self, request):
        data = self._write_data(request, creating=True)
        article = services.article_create(tenant=request.tenant, actor=request.user, **data)
        return Response(s.ArticleSerializer(article).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ArticleWriteSerializer, responses=s.ArticleSerializer)
    def update(self, request, pk=None, partial=False):
        article = self.get_object()  # another tenant's article is a 404 before any body check
        data = self._write_data(request, creating=False)
        return Response(s.ArticleSerializer(services.article_update(article=article, actor=request.user, **data)).data)

    @extend_schema(request=s.ArticleWriteSerializer, responses=s.ArticleSerializer)
    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def perform_destroy(self, instance):
        services.article_delete(article=instance)

    @extend_schema(request=None, responses=s.ArticleSerializer)
    def use(self, request, pk=None):
        """An agent used the article in a conversation: counts it (usage_count, last_used_at)."""
        article = services.article_use(article=self.get_object())
        return Response(s.ArticleSerializer(article).data)

    @extend_schema(responses=s.ArticleVersionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def versions(self, request, pk=None):
        """The article's versions, newest first."""
        versions = selectors.article_version_list(article=self.get_object())
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(s.ArticleVersionSerializer(page, many=True).data)

    def _version(self, version_id):
        version = selectors.article_version_list(article=self.get_object()).filter(pk=version_id).first()
        if version is None:
            raise NotFound()
        return version

    @extend_schema(
        parameters=[OpenApiParameter("version_id", int, OpenApiParameter.PATH)],
        responses=s.ArticleVersionSerializer,
    )
    @action(detail=True, methods=["get"], url_path=r"versions/(?P<version_id>\d+)", url_name="version")
    def version(self, request, pk=None, version_id=None):
        return Response(s.ArticleVersionSerializer(self._version(version_id)).data)

    @extend_schema(
        parameters=[OpenApiParameter("version_id", int, OpenApiParameter.PATH)],
        request=None,
        responses=s.ArticleSerializer,
    )
    @action(detail=True, methods=["post"], url_path=r"versions/(?P<version_id>\d+)/restore", url_name="restore")
    def restore(self, request, pk=None, version_id=None):
        """Puts this version's title and body back (as a new version)."""
        article = services.article_version_restore(version=self._version(version_id), actor=request.user)
        return Response(s.ArticleSerializer(article).data)

    @extend_schema(request=s.ImportUploadSerializer, responses=s.ImportResultSerializer)
    @action(detail=False, methods=["post"], url_path="import", url_name="import", parser_classes=[MultiPartParser])
    def import_files(self, request):
        """Imports CSV and Markdown files at once; existing titles (same language) are updated."""
        serializer = s.ImportUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with transaction.atomic():
            result = services.articles_import(
                tenant=request.tenant,
                actor=request.user,
                files=data["files"],
                language=data["language"],
                category=data["category"],
                status=data["status"],
            )
        return Response(result.as_dict())


class KnowledgeSearchView(APIView):
    """Searches the knowledge base: full text in each article's language, typos forgiven, ranked,
    with a highlighted excerpt. Agents search published articles only."""

    permission_classes = [IsTenantMember]

    @extend_schema(request=s.SearchRequestSerializer, responses=s.SearchResultSerializer)
    def post(self, request):
        serializer = s.SearchRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        hits = selectors.knowledge_search(
            tenant=request.tenant,
            query=data["query"],
            limit=data["limit"],
            language=data.get("language"),
            tags=data.get("tags"),
            categories=data.get("categories"),
            published_only=not (data["include_drafts"] and _is_staff(request)),
        )
        return Response(s.SearchResultSerializer({"results": hits}).data)


class ArticleProposalViewSet(viewsets.ReadOnlyModelViewSet):
    """The review queue of the AI's proposals for the knowledge base (admins and supervisors).
    Nothing is published until a reviewer accepts a proposal."""

    queryset = ArticleProposal.objects.none()  # the model, for the schema and the isolation sweep
    serializer_class = s.ArticleProposalSerializer
    permission_classes = [IsTenantStaff]
    filter_backends = [DjangoFilterBackend]
    filterset_class = ArticleProposalFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.proposal_list(tenant=require_current_tenant())

    @extend_schema(request=s.OptimizeRequestSerializer, responses={202: None})
    @action(detail=False, methods=["post"], url_path="optimize", url_name="optimize")
    def optimize(self, request):
        """Queues an AI run that proposes rewrites, merges and new articles (409 without AI)."""
        serializer = s.OptimizeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        optimize.knowledge_optimize_request(
            tenant=request.tenant, actor=request.user, kinds=data.get("kinds"), article_ids=data.get("articles")
        )
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.ProposalAcceptSerializer, responses=s.ArticleProposalSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        return self._review(request, s.ProposalAcceptSerializer, optimize.proposal_accept)

    @extend_schema(request=s.ProposalRejectSerializer, responses=s.ArticleProposalSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._review(request, s.ProposalRejectSerializer, optimize.proposal_reject)

    def _review(self, request, input_serializer, decide):
        proposal = self.get_object()
        serializer = input_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reviewed = decide(proposal=proposal, actor=request.user, **serializer.validated_data)
        return Response(
            s.ArticleProposalSerializer(selectors.proposal_list(tenant=request.tenant).get(pk=reviewed.pk)).data
        )
