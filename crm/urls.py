"""The CRM pages of the inbox (crm/views.py), mounted at /inbox/crm/."""

from django.urls import path

from crm import views

app_name = "crm"

urlpatterns = [
    path("", views.board, name="board"),
    path("deals/", views.deal_create, name="deal-create"),
    path("deals/<int:deal_id>/move/", views.deal_move, name="deal-move"),
    path("contacts/<int:contact_id>/", views.contact_panel, name="contact-panel"),
    path("contacts/<int:contact_id>/tasks/", views.contact_task_create, name="contact-task-create"),
    path("tasks/<int:task_id>/complete/", views.task_complete, name="task-complete"),
]
