"""The knowledge base's inbox partials (knowledge/views.py), mounted at /inbox/knowledge/."""

from django.urls import path

from knowledge import views

app_name = "knowledge"

urlpatterns = [
    path("search/", views.inbox_search, name="inbox-search"),
    path("articles/<int:article_id>/use/", views.inbox_use, name="inbox-use"),
]
