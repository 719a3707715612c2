"""The editor's per-field forms of node settings, described from flows.schema.

`node_form_descriptions()` gives, per node type, the fields the editor (static/flows/editor.js)
renders: the widget and label come from `FORMS` below; whether a field is required, its allowed
values, bounds and length come from the node type's JSON Schema, so the forms cannot drift from
what validation accepts. A field naming a property the schema lacks fails at once (ValueError),
and flows/tests/test_node_forms.py checks that every property of every node type has a field.

Widgets: `text`, `textarea`, `number`, `checkbox`, `select` (the schema's `enum`, or tenant
choices named by `source`), `lines` (a list of strings, one a line), `rows` (a list of objects,
each item's properties as sub-fields; add/remove/reorder), `pairs` (an object of strings: key →
value rows), `json` (any JSON), `duration` (seconds shown with a unit), `template` (an approved
message template with one input per template variable).
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from django.utils.translation import gettext_lazy as _

from flows.schema import CONDITION_OPERATORS, NODE_SCHEMAS

# Values of the schema's enums as people read them.
ENUM_LABELS = {
    "validation": {
        "none": _("Any answer"),
        "options": _("One of the options"),
        "regex": _("Matches a pattern"),
        "email": _("E-mail"),
        "number": _("Number"),
        "date": _("Date"),
    },
    "source": {
        "variable": _("Variable"),
        "contact": _("Contact (name, phone, e-mail)"),
        "contact_field": _("Contact field"),
        "tag": _("Tag"),
        "business_hours": _("Business hours"),
        "message": _("Latest message"),
    },
    "operator": {
        "equals": _("equals"),
        "not_equals": _("does not equal"),
        "contains": _("contains"),
        "starts_with": _("starts with"),
        "ends_with": _("ends with"),
        "greater": _("greater than"),
        "less": _("less than"),
        "empty": _("is empty"),
        "not_empty": _("is not empty"),
        "regex": _("matches the pattern"),
        "has": _("has"),
        "not_has": _("does not have"),
        "open": _("open"),
        "closed": _("closed"),
    },
    "match": {"all": _("All rules"), "any": _("Any rule")},
    "target": {"variable": _("Variable"), "contact_field": _("Contact field"), "contact": _("Contact")},
    "action": {"add": _("Add"), "remove": _("Remove")},
}

# Which condition operators make sense for each subject (the engine ignores the rest).
_SUBJECT_OPERATORS = {"has", "not_has", "open", "closed"}  # of tags and business hours only
_COMPARISONS = [op for op in CONDITION_OPERATORS if op not in _SUBJECT_OPERATORS]
OPERATORS_BY_SOURCE = {
    "variable": _COMPARISONS,
    "contact": _COMPARISONS,
    "contact_field": _COMPARISONS,
    "message": _COMPARISONS,
    "tag": ["has", "not_has"],
    "business_hours": ["open", "closed"],
}


def _field(name: str, widget: str, label, **options: Any) -> dict[str, Any]:
    return {"name": name, "widget": widget, "label": label, **options}


_RETRIES_HELP = _("Wrong answers before the fallback output is taken.")
_ERROR_TEXT_HELP = _("Sent before asking again (default: “Sorry, I didn't understand that.”).")

# Per node type: a help line and the fields, in the order they are shown. `variables`: the field
# takes {{variables}} (the editor offers them); `visible_when`: shown only when a sibling field has
# one of these values; `suggest`: datalist suggestions (a tenant choice list, or per sibling value);
# `default`: the value the engine assumes when the setting is absent.
FORMS: dict[str, dict[str, Any]] = {
    "start": {"help": _("Where every run begins. Connect its output to the first step."), "fields": []},
    "send_message": {
        "help": _("Sends a text, a media file with a caption, or an approved template (outside the 24-hour window)."),
        "modes": [
            {"value": "text", "label": _("Text"), "fields": ["text"]},
            {"value": "media", "label": _("Media"), "fields": ["media_url", "text"], "labels": {"text": _("Caption")}},
            {"value": "template", "label": _("Template"), "fields": ["template"]},
        ],
        "fields": [
            _field("media_url", "text", _("Media URL"), variables=True, placeholder="https://"),
            _field("text", "textarea", _("Text"), variables=True),
            _field("template", "template", _("Template"), source="templates", variables=True),
        ],
    },
    "ask": {
        "help": _("Asks a question and saves the answer in a variable; wrong answers are asked again."),
        "fields": [
            _field("text", "textarea", _("Question"), variables=True),
            _field("variable", "text", _("Save the answer in the variable")),
            _field("validation", "select", _("Accept"), default="none"),
            _field("options", "lines", _("Options (one a line)"), visible_when={"validation": ["options"]}),
            _field("pattern", "text", _("Pattern (regular expression)"), visible_when={"validation": ["regex"]}),
            _field("retries", "number", _("Retries"), default=2, help=_RETRIES_HELP),
            _field("error_text", "textarea", _("Message for a wrong answer"), variables=True, help=_ERROR_TEXT_HELP),
        ],
    },
    "menu": {
        "help": _("Numbered options (WhatsApp buttons or a list on the Cloud API); each option is an output."),
        "fields": [
            _field("text", "textarea", _("Text"), variables=True),
            _field(
                "options",
                "rows",
                _("Options"),
                add_label=_("Add an option"),
                outputs=True,
                item_fields=[
                    _field("label", "text", _("Label")),
                    _field("id", "text", _("Output id"), generated_from="label"),
                ],
            ),
            _field("variable", "text", _("Save the chosen label in the variable")),
            _field("interactive", "checkbox", _("WhatsApp buttons or list (Cloud API)"), default=True),
            _field("button_text", "text", _("List button text"), visible_when={"interactive": [True]}),
            _field("retries", "number", _("Retries"), default=2, help=_RETRIES_HELP),
            _field("error_text", "textarea", _("Message for a wrong answer"), variables=True, help=_ERROR_TEXT_HELP),
        ],
    },
    "condition": {
        "help": _("Takes the true output when the rules hold, else the false output."),
        "fields": [
            _field("match", "select", _("The output is true when"), default="all"),
            _field(
                "rules",
                "rows",
                _("Rules"),
                add_label=_("Add a rule"),
                item_fields=[
                    _field("source", "select", _("Subject"), default="variable"),
                    _field(
                        "field",
                        "text",
                        _("Name"),
                        visible_when={"source": ["variable", "contact", "contact_field"]},
                        suggest={
                            "source": {
                                "variable": "@variables",
                                "contact": ["name", "phone", "email"],
                                "contact_field": "@contact_fields",
                            }
                        },
                    ),  # fmt: skip
                    _field("operator", "select", _("Operator"), choices_by={"source": OPERATORS_BY_SOURCE}),
                    _field(
                        "value",
                        "text",
                        _("Value"),
                        variables=True,
                        hidden_when={"source": ["business_hours"], "operator": ["empty", "not_empty"]},
                        suggest={"source": {"tag": "@tags"}},
                    ),
                ],
            ),
        ],
    },
    "set_variable": {
        "help": _("Stores a value in a variable of the run, a contact field or the contact's name or e-mail."),
        "fields": [
            _field("target", "select", _("Set"), default="variable"),
            _field(
                "name",
                "text",
                _("Name"),
                suggest={
                    "target": {
                        "variable": "@variables",
                        "contact": ["name", "email"],
                        "contact_field": "@contact_fields",
                    }
                },
            ),  # fmt: skip
            _field("value", "text", _("Value"), variables=True),
        ],
    },
    "tag": {
        "help": _("Adds a tag to the contact or removes it (a missing tag is created)."),
        "fields": [
            _field("action", "select", _("Action"), default="add"),
            _field("tag", "text", _("Tag"), suggest="@tags", variables=True),
        ],
    },
    "http_request": {
        "help": _("Calls a URL (n8n, Typebot, your system): success on 2xx, error otherwise."),
        "fields": [
            _field("method", "select", _("Method"), default="GET"),
            _field("url", "text", _("URL"), variables=True, placeholder="https://"),
            _field("headers", "pairs", _("Headers"), key_label=_("Header"), value_label=_("Value"), variables=True),
            _field(
                "body",
                "json",
                _("JSON body"),
                variables=True,
                help=_("A string that is exactly one {{variable}} keeps its type."),
            ),  # fmt: skip
            _field("timeout", "number", _("Timeout (seconds)"), default=10, step="any"),
            _field(
                "save",
                "pairs",
                _("Save from the response"),
                key_label=_("Variable"),
                value_label=_("JSON path (e.g. data.items.0.id; empty: the whole response)"),
            ),
            _field("status_variable", "text", _("Save the HTTP status in the variable")),
        ],
    },
    "ai_reply": {
        "help": _("An AI agent answers from the knowledge base and hands over to people when needed."),
        "fields": [
            _field(
                "agent_id",
                "select",
                _("AI agent"),
                source="ai_agents",
                empty_label=_("The agent serving the ticket's connection or queue"),
            ),
        ],
    },
    "handoff": {
        "help": _("Hands the ticket to people: the run ends and the bot stops."),
        "fields": [
            _field("queue_id", "select", _("Queue"), source="queues", empty_label=_("Keep the ticket's queue")),
            _field("user_id", "select", _("Agent"), source="agents", empty_label=_("Anyone in the queue")),
            _field("text", "textarea", _("Message before the handoff"), variables=True),
        ],
    },
    "wait": {
        "help": _("Waits, then continues (a durable timer; the customer's messages meanwhile are kept)."),
        "fields": [_field("seconds", "duration", _("Wait for"))],
    },
    "randomizer": {
        "help": _("Picks one branch at random by weight (A/B tests); each branch is an output."),
        "fields": [
            _field(
                "branches",
                "rows",
                _("Branches"),
                add_label=_("Add a branch"),
                outputs=True,
                item_fields=[_field("id", "text", _("Output id")), _field("weight", "number", _("Weight"))],
            ),
        ],
    },
    "go_to_flow": {
        "help": _("Continues in the published version of another flow."),
        "fields": [_field("flow_id", "select", _("Flow"), source="flows")],
    },
    "close_ticket": {
        "help": _("Closes the ticket; the run ends."),
        "fields": [_field("send_farewell", "checkbox", _("Send the farewell message"), default=True)],
    },
}

NODE_LABELS = {
    "start": _("Start"),
    "send_message": _("Send message"),
    "ask": _("Ask"),
    "menu": _("Menu"),
    "condition": _("Condition"),
    "set_variable": _("Set variable"),
    "tag": _("Tag"),
    "http_request": _("HTTP request"),
    "ai_reply": _("AI reply"),
    "handoff": _("Assign to queue or agent"),
    "wait": _("Wait"),
    "randomizer": _("Randomizer"),
    "go_to_flow": _("Go to flow"),
    "close_ticket": _("Close ticket"),
}

_SCHEMA_FACTS = {
    "minimum": "min",
    "maximum": "max",
    "exclusiveMinimum": "min_exclusive",
    "maxLength": "max_length",
    "minLength": "min_length",
    "minItems": "min_items",
    "maxItems": "max_items",
}


def _describe(field: dict, schema: dict, required: list, where: str) -> dict[str, Any]:
    """A field of FORMS completed with what its JSON Schema says."""
    properties = schema.get("properties") or {}
    name = field["name"]
    if name not in properties:
        raise ValueError(f"{where}: {name!r} is not a property of the schema")
    prop = properties[name]
    described = {key: (str(value) if _is_lazy(value) else value) for key, value in field.items()}
    described["label"] = str(field["label"])
    described["required"] = name in required
    types = prop.get("type")
    described["types"] = types if isinstance(types, list) else [types] if types else []
    for key, option in _SCHEMA_FACTS.items():
        if key in prop:
            described[option] = prop[key]
    if "enum" in prop:
        labels = ENUM_LABELS.get(name, {})
        described["choices"] = [[value, str(labels.get(value, value))] for value in prop["enum"]]
    if "choices_by" in field:
        described["choices_by"] = deepcopy(field["choices_by"])
    for key in ("empty_label", "add_label", "key_label", "value_label", "help"):
        if key in field:
            described[key] = str(field[key])
    if field["widget"] == "rows":
        item = prop.get("items") or {}
        described["item_fields"] = [
            _describe(sub, item, item.get("required") or [], f"{where}.{name}") for sub in field["item_fields"]
        ]
    return described


def _is_lazy(value: Any) -> bool:
    return type(value).__name__ == "__proxy__"


def node_form_descriptions() -> dict[str, dict[str, Any]]:
    """Per node type: `label`, `help`, optional `modes` and the `fields` (see the module docstring).
    Labels are translated in the active language; the result is plain JSON."""
    forms: dict[str, dict[str, Any]] = {}
    for kind, schema in NODE_SCHEMAS.items():
        form = FORMS[kind]
        required = schema.get("required") or []
        forms[kind] = {
            "label": str(NODE_LABELS[kind]),
            "help": str(form["help"]),
            "fields": [_describe(field, schema, required, kind) for field in form["fields"]],
        }
        if "modes" in form:
            forms[kind]["modes"] = [
                {
                    "value": mode["value"],
                    "label": str(mode["label"]),
                    "fields": mode["fields"],
                    "labels": {name: str(label) for name, label in (mode.get("labels") or {}).items()},
                }
                for mode in form["modes"]
            ]
    return forms
