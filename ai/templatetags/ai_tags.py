"""The inbox asks whether AI can be used, to enable its buttons or say why they are off."""

from django import template
from django.utils.translation import gettext as _

from ai import selectors

register = template.Library()


@register.simple_tag
def ai_assist_state() -> dict:
    """{"configured": bool, "reason": why not} for the current tenant (one query)."""
    found = selectors.ai_settings_get()
    if found is None:
        return {"configured": False, "reason": _("AI is not configured for this workspace. An admin can set it up.")}
    if not found.is_configured:
        return {"configured": False, "reason": _("AI is switched off for this workspace.")}
    return {"configured": True, "reason": ""}
