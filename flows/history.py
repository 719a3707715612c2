"""A ticket's bot activity in words, for the inbox's history: which flow ran which node, and how it
went — node kinds and outcomes only, never the variables' values or an HTTP node's answer."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from flows.models import FlowTrace

NODE_LABELS = {
    "start": gettext_lazy("Start"),
    "send_message": gettext_lazy("Send message"),
    "ask": gettext_lazy("Ask"),
    "menu": gettext_lazy("Menu"),
    "condition": gettext_lazy("Condition"),
    "set_variable": gettext_lazy("Set variable"),
    "tag": gettext_lazy("Tag"),
    "http_request": gettext_lazy("HTTP request"),
    "ai_reply": gettext_lazy("AI reply"),
    "handoff": gettext_lazy("Hand over to people"),
    "wait": gettext_lazy("Wait"),
    "randomizer": gettext_lazy("Randomizer"),
    "go_to_flow": gettext_lazy("Go to another flow"),
    "close_ticket": gettext_lazy("Close ticket"),
    "takeover": gettext_lazy("Stopped: a person took over"),
    "error": gettext_lazy("Error"),
    "?": gettext_lazy("Message ignored"),
    # Actions refused when applied (flows.services.runs.TicketEffects._error).
    "send": gettext_lazy("Send message"),
    "close": gettext_lazy("Close ticket"),
    "ai_outcome": gettext_lazy("AI reply"),
    "contact_set": gettext_lazy("Set variable"),
}


def _outcome(trace: FlowTrace) -> str:
    output = trace.output or {}
    if output.get("error"):
        return _("failed (%(code)s)") % {"code": output["error"]}
    if output.get("ignored"):
        return ""
    if trace.node_type == "condition" and "result" in output:
        return _("true") if output["result"] else _("false")
    if "valid" in output:
        return _("valid answer") if output["valid"] else _("invalid answer")
    if output.get("waiting") == "input":
        return _("waiting for the customer")
    if trace.node_type == "wait":
        return _("resumed") if output.get("resumed") else _("waiting")
    if trace.node_type == "ai_reply" and "answered" in output:
        return _("answered") if output["answered"] else _("handed over (%(why)s)") % {"why": output.get("reason", "")}
    if trace.node_type == "http_request" and "status" in output:
        return _("HTTP %(status)s") % {"status": output["status"]}
    if trace.node_type == "takeover" and output.get("reason"):
        return str(output["reason"])
    return ""


def trace_text(trace: FlowTrace) -> str:
    """ "Send message · waiting for the customer" — the node kind and how it went."""
    label = str(NODE_LABELS.get(trace.node_type, trace.node_type))
    outcome = _outcome(trace)
    return f"{label} · {outcome}" if outcome else label
