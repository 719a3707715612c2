from django.urls import re_path

from config.api.routers import OptionalSlashRouter
from knowledge.api import views

router = OptionalSlashRouter()
router.register("knowledge/articles", views.ArticleViewSet, basename="knowledge-article")
router.register("knowledge/proposals", views.ArticleProposalViewSet, basename="knowledge-proposal")

urlpatterns = [
    re_path(r"^knowledge/search/?$", views.KnowledgeSearchView.as_view(), name="knowledge-search"),
    # The short form for "an agent used this article" (same view as the router's routes).
    re_path(
        r"^knowledge/(?P<pk>\d+)/use/?$",
        views.ArticleViewSet.as_view({"post": "use"}, basename="knowledge-article"),
        name="knowledge-article-use",
    ),
    *router.urls,
]
