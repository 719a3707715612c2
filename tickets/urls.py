"""The agents' inbox (tickets/views/), mounted at /inbox/."""

from django.urls import path
from django.views.i18n import set_language

from tickets import views

app_name = "inbox"

urlpatterns = [
    path("", views.inbox, name="index"),
    path("tickets/", views.ticket_list, name="ticket-list"),
    path("tabs/", views.ticket_tabs, name="ticket-tabs"),
    # Django's own view: remembers the choice in the language cookie, which the inbox honours.
    path("language/", set_language, name="set-language"),
    path("tickets/<int:ticket_id>/", views.conversation, name="conversation"),
    path("tickets/<int:ticket_id>/row/", views.ticket_row, name="ticket-row"),
    path("tickets/<int:ticket_id>/header/", views.conversation_header, name="conversation-header"),
    path("tickets/<int:ticket_id>/bot-activity/", views.bot_activity, name="bot-activity"),
    path("tickets/<int:ticket_id>/messages/", views.messages_older, name="messages-older"),
    path("tickets/<int:ticket_id>/send/", views.message_send, name="message-send"),
    path("tickets/<int:ticket_id>/quick-replies/", views.quick_replies, name="quick-replies"),
    path("tickets/<int:ticket_id>/accept/", views.ticket_accept, name="ticket-accept"),
    path("tickets/<int:ticket_id>/transfer/", views.ticket_transfer, name="ticket-transfer"),
    path("tickets/<int:ticket_id>/close/", views.ticket_close, name="ticket-close"),
    path("tickets/<int:ticket_id>/reopen/", views.ticket_reopen, name="ticket-reopen"),
    path("tickets/<int:ticket_id>/read/", views.ticket_read, name="ticket-read"),
    path("tickets/<int:ticket_id>/priority/", views.ticket_priority, name="ticket-priority"),
    path("tickets/<int:ticket_id>/tags/", views.ticket_tags, name="ticket-tags"),
    path("tickets/<int:ticket_id>/contact/", views.contact_update, name="contact-update"),
    path("messages/<int:message_id>/", views.message_partial, name="message"),
    path("messages/<int:message_id>/media/", views.message_media, name="message-media"),
]
