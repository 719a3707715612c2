"""Variables in quick replies: `{{name}}`, `{{protocol}}`, `{{agent}}`. Unknown ones stay as typed."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accounts.models import User
    from tickets.models import Ticket

_VARIABLE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def template_variables(*, ticket: Ticket, agent: User | None) -> dict[str, str]:
    contact = ticket.contact
    return {
        "name": contact.name or contact.profile_name or "",
        "protocol": str(ticket.protocol),
        "agent": (agent.name or agent.email) if agent else "",
    }


def render(text: str, variables: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        name = match.group(1)
        return variables[name] if name in variables else match.group(0)

    return _VARIABLE.sub(replace, text)
