"""The JSON shape of a flow graph (docs/FLOWS.md) and its validation, with errors per node id.

`graph_validate(graph)` returns `{node_id: [messages]}` (the key `"graph"` holds errors that
belong to no node); an empty dict means the graph can be published. The structure is checked with
JSON Schema (the `jsonschema` package), each node's `data` with the schema of its type, then what
JSON Schema cannot say: unique ids, one start node, edges between existing nodes through outputs
the source node has.
"""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from jsonschema import Draft202012Validator

GRAPH_ERRORS = "graph"
MAX_NODES = 500

_ID = {"type": "string", "pattern": r"^[A-Za-z0-9_.:-]{1,64}$"}
_TEXT = {"type": "string", "maxLength": 4096}
_VARIABLE = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"}
_RETRIES = {"type": "integer", "minimum": 0, "maximum": 10}

GRAPH_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["nodes", "edges"],
    "properties": {
        "nodes": {
            "type": "array",
            "maxItems": MAX_NODES,
            "items": {
                "type": "object",
                "required": ["id", "type"],
                "properties": {
                    "id": _ID,
                    "type": {"type": "string"},
                    "data": {"type": "object"},
                    "position": {"type": "object"},
                },
            },
        },
        "edges": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["source", "target"],
                "properties": {
                    "id": {"type": "string"},
                    "source": _ID,
                    "source_handle": {"type": "string"},
                    "target": _ID,
                },
            },
        },
    },
}

CONDITION_OPERATORS = [
    "equals", "not_equals", "contains", "starts_with", "ends_with", "greater", "less", "empty", "not_empty",
    "regex", "has", "not_has", "open", "closed",
]  # fmt: skip

_CONDITION_RULE = {
    "type": "object",
    "required": ["source", "operator"],
    "properties": {
        "source": {"enum": ["variable", "contact", "contact_field", "tag", "business_hours", "message"]},
        "field": {"type": "string", "maxLength": 64},
        "operator": {"enum": CONDITION_OPERATORS},
        "value": {"type": ["string", "number", "boolean", "null"]},
    },
}

# The `data` of each node type, and the outputs (edge `source_handle`s) it has.
NODE_SCHEMAS: dict[str, dict[str, Any]] = {
    "start": {"type": "object"},
    "send_message": {
        "type": "object",
        "properties": {
            "text": _TEXT,
            "media_url": {"type": "string", "pattern": r"^https?://", "maxLength": 2000},
            "template": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "language": {"type": "string"}, "components": {}},
            },
        },
        "anyOf": [{"required": ["text"]}, {"required": ["media_url"]}, {"required": ["template"]}],
    },
    "ask": {
        "type": "object",
        "required": ["text", "variable"],
        "properties": {
            "text": _TEXT,
            "variable": _VARIABLE,
            "validation": {"enum": ["none", "options", "regex", "email", "number", "date"]},
            "options": {"type": "array", "items": {"type": "string"}, "maxItems": 50},
            "pattern": {"type": "string", "maxLength": 500},
            "retries": _RETRIES,
            "error_text": _TEXT,
        },
    },
    "menu": {
        "type": "object",
        "required": ["text", "options"],
        "properties": {
            "text": _TEXT,
            "options": {
                "type": "array",
                "minItems": 1,
                "maxItems": 10,
                "items": {
                    "type": "object",
                    "required": ["id", "label"],
                    "properties": {"id": _ID, "label": {"type": "string", "minLength": 1, "maxLength": 24}},
                },
            },
            "variable": _VARIABLE,
            "interactive": {"type": "boolean"},
            "button_text": {"type": "string", "maxLength": 20},
            "retries": _RETRIES,
            "error_text": _TEXT,
        },
    },
    "condition": {
        "type": "object",
        "required": ["rules"],
        "properties": {"match": {"enum": ["all", "any"]}, "rules": {"type": "array", "items": _CONDITION_RULE}},
    },
    "set_variable": {
        "type": "object",
        "required": ["name", "value"],
        "properties": {
            "target": {"enum": ["variable", "contact_field", "contact"]},
            "name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"},
            "value": {"type": ["string", "number", "boolean", "null"]},
        },
    },
    "tag": {
        "type": "object",
        "required": ["tag"],
        "properties": {
            "tag": {"type": "string", "minLength": 1, "maxLength": 60},
            "action": {"enum": ["add", "remove"]},
        },
    },
    "http_request": {
        "type": "object",
        "required": ["url"],
        "properties": {
            "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
            "url": {"type": "string", "pattern": r"^(https?://|\{\{)", "maxLength": 2000},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "body": {},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 30},
            "save": {"type": "object", "additionalProperties": {"type": "string"}},
            "status_variable": _VARIABLE,
        },
    },
    "ai_reply": {"type": "object", "properties": {"agent_id": {"type": ["integer", "null"]}}},
    "handoff": {
        "type": "object",
        "properties": {
            "queue_id": {"type": ["integer", "null"]},
            "user_id": {"type": ["integer", "null"]},
            "text": _TEXT,
        },
    },
    "wait": {
        "type": "object",
        "required": ["seconds"],
        "properties": {"seconds": {"type": "integer", "minimum": 1, "maximum": 30 * 24 * 3600}},
    },
    "randomizer": {
        "type": "object",
        "required": ["branches"],
        "properties": {
            "branches": {
                "type": "array",
                "minItems": 2,
                "maxItems": 10,
                "items": {
                    "type": "object",
                    "required": ["id", "weight"],
                    "properties": {"id": _ID, "weight": {"type": "integer", "minimum": 0, "maximum": 1000}},
                },
            }
        },
    },
    "go_to_flow": {"type": "object", "required": ["flow_id"], "properties": {"flow_id": {"type": "integer"}}},
    "close_ticket": {"type": "object", "properties": {"send_farewell": {"type": "boolean"}}},
}

_FIXED_OUTPUTS: dict[str, tuple[str, ...]] = {
    "start": ("next",),
    "send_message": ("next",),
    "ask": ("next", "fallback"),
    "condition": ("true", "false"),
    "set_variable": ("next",),
    "tag": ("next",),
    "http_request": ("success", "error"),
    "ai_reply": ("next",),
    "handoff": (),
    "wait": ("next",),
    "go_to_flow": (),
    "close_ticket": (),
}

NODE_TYPES = tuple(NODE_SCHEMAS)

# What a new node of each type starts with in the editor (valid data, ready to edit).
NODE_EXAMPLES = {
    "start": {},
    "send_message": {"text": "Olá {{contact.name}}!"},
    "ask": {"text": "Qual é o seu e-mail?", "variable": "email", "validation": "email", "retries": 2},
    "menu": {
        "text": "Como podemos ajudar?",
        "options": [{"id": "sales", "label": "Vendas"}, {"id": "support", "label": "Suporte"}],
    },
    "condition": {"match": "all", "rules": [{"source": "variable", "field": "email", "operator": "not_empty"}]},
    "set_variable": {"target": "variable", "name": "origem", "value": "whatsapp"},
    "tag": {"tag": "lead", "action": "add"},
    "http_request": {
        "method": "POST",
        "url": "https://example.com/webhook",
        "body": {"phone": "{{contact.phone}}"},
        "timeout": 10,
        "save": {},
    },
    "ai_reply": {},
    "handoff": {"queue_id": None, "text": "Vou transferir você para um atendente."},
    "wait": {"seconds": 3600},
    "randomizer": {"branches": [{"id": "a", "weight": 50}, {"id": "b", "weight": 50}]},
    "go_to_flow": {"flow_id": 0},
    "close_ticket": {"send_farewell": True},
}


def node_outputs(node: dict) -> tuple[str, ...]:
    """The `source_handle`s a node may have edges from."""
    kind = node.get("type")
    data = node.get("data") or {}
    if kind == "menu":
        return (*(str(option.get("id")) for option in data.get("options") or []), "fallback")
    if kind == "randomizer":
        return tuple(str(branch.get("id")) for branch in data.get("branches") or [])
    return _FIXED_OUTPUTS.get(kind, ())


_GRAPH_VALIDATOR = Draft202012Validator(GRAPH_SCHEMA)
_NODE_VALIDATORS = {kind: Draft202012Validator(schema) for kind, schema in NODE_SCHEMAS.items()}


_TYPE_NAMES = {
    "string": _lazy("a text"),
    "integer": _lazy("a whole number"),
    "number": _lazy("a number"),
    "boolean": _lazy("yes or no"),
    "object": _lazy("an object"),
    "array": _lazy("a list"),
    "null": _lazy("empty"),
}
_PATTERN_MESSAGES = {
    _ID["pattern"]: _lazy("Use 1 to 64 letters, digits, _ . : or -."),
    _VARIABLE["pattern"]: _lazy("Use letters, digits and _, not starting with a digit."),
    r"^https?://": _lazy("Must start with http:// or https://."),
    r"^(https?://|\{\{)": _lazy("Must start with http://, https:// or a {{variable}}."),
}


def _message(error) -> tuple[list, str]:
    """The path of the field an error belongs to and a translated message for it (jsonschema's
    own messages are English and name the missing property instead of pointing at it)."""
    path = list(error.absolute_path)
    kind, expected = error.validator, error.validator_value
    if kind == "required":
        missing = next((name for name in expected if error.message.startswith(repr(name))), None)
        return [*path, missing] if missing else path, _("This field is required.")
    if kind == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        names = ", ".join(str(_TYPE_NAMES.get(name, name)) for name in kinds)
        return path, _("Must be %(type)s.") % {"type": names}
    if kind == "enum":
        return path, _("Must be one of: %(values)s.") % {"values": ", ".join(str(value) for value in expected)}
    if kind == "pattern":
        return path, str(_PATTERN_MESSAGES.get(expected, _lazy("Does not have the expected format.")))
    if kind == "minLength":
        return path, _("This field is required.") if expected == 1 else _("Too short.")
    if kind == "maxLength":
        return path, _("At most %(n)d characters.") % {"n": expected}
    if kind == "minimum":
        return path, _("Must be at least %(n)s.") % {"n": expected}
    if kind == "exclusiveMinimum":
        return path, _("Must be greater than %(n)s.") % {"n": expected}
    if kind == "maximum":
        return path, _("Must be at most %(n)s.") % {"n": expected}
    if kind == "minItems":
        return path, _("Needs at least %(n)d items.") % {"n": expected}
    if kind == "maxItems":
        return path, _("At most %(n)d items.") % {"n": expected}
    if kind == "anyOf" and not path:  # send_message: one of text, media_url, template
        return ["text"], _("Give a text, a media URL or a template.")
    return path, error.message


def field_message(path: list | str, message: str) -> str:
    """`"options/0/label: message"`: errors name the field they belong to (the editor shows them
    next to it), or are bare for the node as a whole."""
    where = path if isinstance(path, str) else "/".join(str(part) for part in path)
    return f"{where}: {message}" if where else message


def _where(error) -> str:
    return field_message(*_message(error))


def graph_validate(graph: Any) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}

    def add(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    structural = sorted(_GRAPH_VALIDATOR.iter_errors(graph), key=lambda error: list(error.absolute_path))
    if structural:
        for error in structural[:20]:
            add(GRAPH_ERRORS, _where(error))
        return errors

    nodes: dict[str, dict] = {}
    for node in graph["nodes"]:
        node_id = node["id"]
        if node_id in nodes:
            add(node_id, _("Two nodes have this id."))
            continue
        nodes[node_id] = node
        validator = _NODE_VALIDATORS.get(node["type"])
        if validator is None:
            add(node_id, _("Unknown node type %(type)s.") % {"type": node["type"]})
            continue
        for error in sorted(validator.iter_errors(node.get("data") or {}), key=lambda e: list(e.absolute_path)):
            add(node_id, _where(error))
        _check_node(node, add)

    starts = [node_id for node_id, node in nodes.items() if node["type"] == "start"]
    if len(starts) != 1:
        add(GRAPH_ERRORS, _("A flow needs exactly one start node (found %(n)d).") % {"n": len(starts)})

    taken: set[tuple[str, str]] = set()
    for edge in graph["edges"]:
        source, target = edge["source"], edge["target"]
        handle = edge.get("source_handle") or "next"
        if source not in nodes:
            add(GRAPH_ERRORS, _("An edge starts at the unknown node %(id)s.") % {"id": source})
            continue
        if target not in nodes:
            add(source, _("An edge goes to the unknown node %(id)s.") % {"id": target})
            continue
        if handle not in node_outputs(nodes[source]):
            add(source, _("This node has no output %(handle)s.") % {"handle": handle})
            continue
        if nodes[target]["type"] == "start":
            add(source, _("No edge may go back to the start node."))
        if (source, handle) in taken:
            add(source, _("The output %(handle)s has more than one edge.") % {"handle": handle})
        taken.add((source, handle))
    return errors


def _check_node(node: dict, add) -> None:
    """What the per-type JSON Schema cannot say."""
    data = node.get("data") or {}
    node_id = node["id"]
    kind = node["type"]
    if kind == "ask":
        validation = data.get("validation", "none")
        if validation == "options" and not data.get("options"):
            add(node_id, field_message("options", _("Validation by options needs a list of options.")))
        if validation == "regex":
            try:
                re.compile(data.get("pattern") or "")
            except re.error as exc:
                add(node_id, field_message("pattern", _("Not a valid regular expression: %(error)s") % {"error": exc}))
            if not data.get("pattern"):
                add(node_id, field_message("pattern", _("Validation by pattern needs a pattern.")))
    elif kind == "menu":
        ids = [str(option.get("id")) for option in data.get("options") or []]
        if len(set(ids)) != len(ids) or "fallback" in ids:
            add(node_id, field_message("options", _("Menu options need distinct ids (and none called fallback).")))
    elif kind == "randomizer":
        branches = data.get("branches") or []
        ids = [str(branch.get("id")) for branch in branches]
        if len(set(ids)) != len(ids):
            add(node_id, field_message("branches", _("Branches need distinct ids.")))
        if branches and sum(int(branch.get("weight") or 0) for branch in branches) <= 0:
            add(node_id, field_message("branches", _("At least one branch needs a weight above zero.")))
    elif kind == "condition":
        for index, rule in enumerate(data.get("rules") or []):
            if isinstance(rule, dict) and rule.get("operator") == "regex":
                try:
                    re.compile(str(rule.get("value") or ""))
                except re.error as exc:
                    message = _("Not a valid regular expression: %(error)s") % {"error": exc}
                    add(node_id, field_message(["rules", index, "value"], message))


def start_node_id(graph: dict) -> str | None:
    return next((node["id"] for node in graph.get("nodes", []) if node.get("type") == "start"), None)
