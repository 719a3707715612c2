"""The agents' inbox at /inbox/: server-rendered pages and the htmx partials that keep them live.

Each view is thin: the session user's tenant comes from TenantMiddleware, reads go through
tickets.selectors (which alone decide who sees which ticket), writes through tickets.services and
crm.services. A ticket or message the user may not see is a 404, whoever's it is. Domain errors are
answered in words: htmx requests get a flash fragment retargeted to `#flash`.
"""

from tickets.views.actions import (
    contact_update,
    ticket_accept,
    ticket_close,
    ticket_priority,
    ticket_read,
    ticket_reopen,
    ticket_tags,
    ticket_transfer,
)
from tickets.views.conversation import (
    bot_activity,
    conversation_header,
    message_media,
    message_partial,
    message_send,
    messages_older,
    quick_replies,
)
from tickets.views.pages import conversation, inbox, ticket_list, ticket_row, ticket_tabs

__all__ = [
    "bot_activity",
    "contact_update",
    "conversation",
    "conversation_header",
    "inbox",
    "message_media",
    "message_partial",
    "message_send",
    "messages_older",
    "quick_replies",
    "ticket_accept",
    "ticket_close",
    "ticket_list",
    "ticket_priority",
    "ticket_read",
    "ticket_reopen",
    "ticket_row",
    "ticket_tabs",
    "ticket_tags",
    "ticket_transfer",
]
