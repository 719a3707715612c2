"""Cloud API message templates: sync from Meta, submission for approval, local preview.

A template's placeholders are `{{1}}`, `{{2}}`… (positional) or `{{first_name}}` (named) in its
HEADER (text format) and BODY components. `template_variables` lists them per component;
`template_render` fills them for a preview; `template_send_components` builds the `components` of
a send call. Values are given per component as `{"body": {"1": "Ana"}, "header": {"1": "..."}}`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.errors import ProsaError
from tenants.models import Tenant
from whatsapp.choices import Provider
from whatsapp.models import Connection, MessageTemplate
from whatsapp.providers import get_adapter

logger = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
NAME_PATTERN = re.compile(r"^[a-z0-9_]{1,512}$")
TEXT_COMPONENTS = ("header", "body")


class TemplateError(ProsaError):
    code = "template_invalid"
    status_code = 400


class TemplateNotSupported(ProsaError):
    code = "template_not_supported"
    status_code = 409
    default_detail = gettext_lazy(
        "Message templates exist only on WhatsApp Cloud API connections with a business account ID."
    )


# --- pure functions ----------------------------------------------------------------------


def _component(components: list[dict], kind: str) -> dict | None:
    for component in components or []:
        if isinstance(component, dict) and str(component.get("type", "")).lower() == kind:
            return component
    return None


def _has_text(component: dict | None) -> bool:
    if component is None:
        return False
    return str(component.get("format", "TEXT")).upper() == "TEXT" and bool(component.get("text"))


def template_variables(components: list[dict]) -> dict[str, list[str]]:
    """The placeholders per text component, in order of first appearance: `{"body": ["1", "2"]}`."""
    found: dict[str, list[str]] = {}
    for kind in TEXT_COMPONENTS:
        component = _component(components, kind)
        if not _has_text(component):
            continue
        names: list[str] = []
        for name in PLACEHOLDER.findall(component["text"]):
            if name not in names:
                names.append(name)
        if names:
            found[kind] = names
    return found


def template_examples(components: list[dict]) -> dict[str, dict[str, str]]:
    """The example values the template was submitted with (Meta requires them), per component."""
    examples: dict[str, dict[str, str]] = {}
    variables = template_variables(components)
    for kind, names in variables.items():
        example = (_component(components, kind) or {}).get("example") or {}
        named = example.get(f"{kind}_text_named_params") or []
        positional = example.get(f"{kind}_text") or []
        if positional and isinstance(positional[0], list):  # body_text is a list of lists
            positional = positional[0]
        values = {str(p.get("param_name")): str(p.get("example", "")) for p in named if isinstance(p, dict)}
        for index, name in enumerate(names):
            if name not in values and index < len(positional):
                values[name] = str(positional[index])
        examples[kind] = values
    return examples


def _fill(text: str, values: dict[str, str], *, strict: bool) -> str:
    def replace(match):
        name = match.group(1)
        if name in values and values[name] not in (None, ""):
            return str(values[name])
        if strict:
            raise TemplateError(_("No value for the template variable {{%(name)s}}.") % {"name": name})
        return match.group(0)

    return PLACEHOLDER.sub(replace, text)


def template_render(components: list[dict], values: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """What the customer would read: header, body, footer and buttons with placeholders filled by
    `values`, falling back to the template's own examples; unknown ones stay as `{{x}}`."""
    examples = template_examples(components)
    values = values or {}
    merged = {kind: {**examples.get(kind, {}), **(values.get(kind) or {})} for kind in TEXT_COMPONENTS}
    header = _component(components, "header")
    body = _component(components, "body")
    footer = _component(components, "footer")
    buttons = _component(components, "buttons")
    return {
        "header": _fill(header["text"], merged["header"], strict=False) if _has_text(header) else "",
        "header_format": str((header or {}).get("format", "")).upper() if header else "",
        "body": _fill(body.get("text", ""), merged["body"], strict=False) if body else "",
        "footer": (footer or {}).get("text", ""),
        "buttons": [b.get("text", "") for b in (buttons or {}).get("buttons", []) if isinstance(b, dict)],
    }


def template_send_components(template: MessageTemplate, values: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """The `components` of a Cloud send call; raises TemplateError for a missing value."""
    named = all(not name.isdigit() for names in template.variables.values() for name in names)
    components = []
    for kind, names in template.variables.items():
        given = values.get(kind) or {}
        parameters = []
        for name in names:
            value = given.get(name)
            if value in (None, ""):
                raise TemplateError(_("No value for the template variable {{%(name)s}}.") % {"name": name})
            parameter = {"type": "text", "text": str(value)}
            if named:
                parameter["parameter_name"] = name
            parameters.append(parameter)
        components.append({"type": kind, "parameters": parameters})
    return components


# --- reads -------------------------------------------------------------------------------


def template_list(*, tenant: Tenant):
    return MessageTemplate.objects.filter(tenant=tenant).select_related("connection")


# --- writes ------------------------------------------------------------------------------


def _check_connection(connection: Connection) -> None:
    if connection.provider != Provider.CLOUD or not connection.waba_id:
        raise TemplateNotSupported()


def _fields_from_provider(data: dict) -> dict[str, Any]:
    components = data.get("components") if isinstance(data.get("components"), list) else []
    status = str(data.get("status", "")).upper()
    category = str(data.get("category", "")).upper()
    reason = str(data.get("rejected_reason") or "")
    return {
        "provider_template_id": str(data.get("id", "")),
        "status": status if status in MessageTemplate.Status.values else MessageTemplate.Status.PENDING,
        "category": category if category in MessageTemplate.Category.values else MessageTemplate.Category.UTILITY,
        "components": components,
        "variables": template_variables(components),
        # Meta answers "NONE" for templates that were not rejected.
        "rejected_reason": "" if reason == "NONE" else reason[:200],
    }


def templates_sync(*, connection: Connection) -> dict[str, int]:
    """Brings the connection's templates in line with Meta's list: new ones created, changed ones
    updated, ones deleted at Meta removed. The HTTP calls happen before the transaction."""
    _check_connection(connection)
    remote = get_adapter(connection).list_templates()
    now = timezone.now()
    counts = {"created": 0, "updated": 0, "deleted": 0}
    seen: set[tuple[str, str]] = set()
    with transaction.atomic():
        existing = {
            (t.name, t.language): t for t in MessageTemplate.objects.select_for_update().filter(connection=connection)
        }
        for data in remote:
            name, language = str(data.get("name", "")), str(data.get("language", ""))
            if not name or not language:
                continue
            seen.add((name, language))
            fields = _fields_from_provider(data)
            template = existing.get((name, language))
            if template is None:
                MessageTemplate.objects.create(
                    tenant_id=connection.tenant_id,
                    connection=connection,
                    name=name,
                    language=language,
                    synced_at=now,
                    **fields,
                )
                counts["created"] += 1
                continue
            changed = [key for key, value in fields.items() if getattr(template, key) != value]
            for key in changed:
                setattr(template, key, fields[key])
            template.synced_at = now
            template.save(update_fields=[*changed, "synced_at", "updated_at"])
            counts["updated"] += bool(changed)
        gone = [t.pk for key, t in existing.items() if key not in seen]
        if gone:
            counts["deleted"] = MessageTemplate.objects.filter(pk__in=gone).delete()[0]
    logger.info(
        "templates synced", extra={"connection_id": connection.pk, **{f"templates_{k}": n for k, n in counts.items()}}
    )
    return counts


def template_submit(
    *, connection: Connection, name: str, language: str, category: str, components: list[dict]
) -> MessageTemplate:
    """Submits a new template to Meta for approval and keeps it as PENDING."""
    _check_connection(connection)
    if not NAME_PATTERN.match(name):
        raise TemplateError(_("Template names use only lowercase letters, digits and underscores."))
    if category not in MessageTemplate.Category.values:
        raise TemplateError(_("Unknown category %(category)s.") % {"category": category})
    if _component(components, "body") is None:
        raise TemplateError(_("A template needs a BODY component."))
    if MessageTemplate.objects.filter(connection=connection, name=name, language=language).exists():
        raise TemplateError(_("This connection already has a template with this name and language."))
    data = get_adapter(connection).create_template(
        name=name, language=language, category=category, components=components
    )
    fields = _fields_from_provider({**data, "components": components})
    return MessageTemplate.objects.create(
        tenant_id=connection.tenant_id,
        connection=connection,
        name=name,
        language=language,
        synced_at=timezone.now(),
        **fields,
    )
