"""The inbox asks whether AI can be used, to enable its buttons or say why they are off."""

import json

from django import template
from django.utils.translation import gettext as _

from ai import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def ai_assist_state(context) -> dict:
    """{"configured": bool, "reason": why not, "transcribes": bool, "transcribe_reason": why not}
    for the current tenant: one query per request (every voice note's bubble asks)."""
    request = context.get("request")
    cached = getattr(request, "_ai_assist_state", None)
    if cached is not None:
        return cached
    found = selectors.ai_settings_get()
    if found is None:
        reason = _("AI is not configured for this workspace. An admin can set it up.")
    elif not found.is_configured:
        reason = _("AI is switched off for this workspace.")
    else:
        reason = ""
    state = {"configured": not reason, "reason": reason}
    transcribes = bool(not reason and found.transcription_model)
    no_model = "" if transcribes else _("This AI feature needs a model that is not configured.")
    state.update(transcribes=transcribes, transcribe_reason=reason or no_model)
    if request is not None:
        request._ai_assist_state = state
    return state


@register.simple_tag
def ai_result_labels() -> str:
    """The words the inbox's script shows for the AI's answers (sentiments, BANT fields), as JSON."""
    from ai.models import TicketInsight
    from crm.models import Deal

    labels = {str(value): str(label) for value, label in TicketInsight.Sentiment.choices}
    labels.update(
        {
            name: str(Deal._meta.get_field(name).verbose_name).capitalize()
            for name in ("budget", "authority", "need", "timeline")
        }
    )
    return json.dumps(labels, ensure_ascii=False)
