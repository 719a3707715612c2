"""The flow engine: walks a run through its graph until the run must wait, ends or hands over.

The engine is pure with respect to the outside world: everything a node does to the ticket, the
contact or WhatsApp goes through an `Effects` object (flows.services.TicketEffects on a real
ticket, SandboxEffects in the test console), and the run's state lives on the `FlowRun` instance
the caller loads under a row lock and saves afterwards. So the same code runs a ticket in a worker
and a simulated customer in the API, and a restart loses nothing: there is no state in memory.

One call is one event — `start`, `receive` (a customer message) or `resume_timer` — and executes
at most `FLOWS_MAX_STEPS_PER_EVENT` nodes (the loop guard): a graph that goes round without
waiting for the customer fails instead of spinning.
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
import socket
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import httpx2
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from flows.models import FlowRun, FlowVersion
from flows.schema import start_node_id

_VARIABLE = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")
_SUMMARY = 300
HTTP_RESPONSE_MAX_BYTES = 1024 * 1024


def max_steps_per_event() -> int:
    return getattr(settings, "FLOWS_MAX_STEPS_PER_EVENT", 50)


@dataclass(frozen=True)
class Inbound:
    """A customer message as a node sees it."""

    text: str
    reply_id: str = ""  # the id of a tapped interactive button or list row


class Effects(ABC):
    """What a run reads from and does to the world."""

    contact: dict[str, Any]  # name, phone, email and the custom fields under "fields"
    tags: set[str]  # lower-cased names of the contact's and the ticket's tags
    ticket_info: dict[str, Any]  # protocol, queue
    supports_interactive: bool = False

    @abstractmethod
    def send(self, *, text: str = "", media_url: str = "", template: dict | None = None, interactive=None): ...

    @abstractmethod
    def can_send_freeform(self) -> bool: ...

    @abstractmethod
    def contact_set(self, *, target: str, name: str, value: Any) -> None: ...

    @abstractmethod
    def tag(self, *, name: str, add: bool) -> None: ...

    @abstractmethod
    def handoff(self, *, queue_id: int | None, user_id: int | None) -> None: ...

    @abstractmethod
    def close(self, *, send_farewell: bool) -> None: ...

    @abstractmethod
    def release(self) -> None:
        """The run ended: the ticket is no longer the bot's."""

    @abstractmethod
    def schedule_timer(self, *, at: datetime) -> None: ...

    @abstractmethod
    def business_hours_open(self, *, at: datetime) -> bool: ...

    @abstractmethod
    def flow_version(self, *, flow_id: int) -> FlowVersion | None: ...

    @abstractmethod
    def trace(self, *, node_id: str, node_type: str, input: dict, output: dict) -> None: ...

    def ai_reply(self, *, agent_id: int | None, text: str) -> dict | None:
        """An AI agent's turn on the customer's words: {"answered": bool, "reason", "articles"…};
        None where no AI agent can answer (the test console)."""
        return None


# --- helpers ------------------------------------------------------------------------------------


def _summary(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= _SUMMARY else value[:_SUMMARY] + "…"
    if isinstance(value, dict):
        return {key: _summary(item) for key, item in list(value.items())[:30]}
    if isinstance(value, list):
        return [_summary(item) for item in value[:30]]
    return value


def path_get(value: Any, path: str) -> Any:
    """`"data.items.0.id"` inside a JSON value; None when any step is missing."""
    for part in [part for part in path.split(".") if part]:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def parse_number(text: Any) -> Decimal | None:
    if isinstance(text, bool):
        return None
    if isinstance(text, int | float | Decimal):
        return Decimal(str(text))
    raw = str(text or "").strip().replace(" ", "")
    if "," in raw and "." in raw:
        raw = raw.replace(".", "").replace(",", ".")  # 1.234,56
    elif "," in raw:
        raw = raw.replace(",", ".")
    try:
        number = Decimal(raw)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def parse_date(text: str) -> date | None:
    raw = (text or "").strip()
    for parse in (date.fromisoformat, lambda t: datetime.strptime(t, "%d/%m/%Y").date()):
        try:
            return parse(raw)
        except ValueError:
            continue
    return None


def _number_json(number: Decimal) -> int | float:
    return int(number) if number == number.to_integral_value() else float(number)


# --- the engine ---------------------------------------------------------------------------------


class Engine:
    def __init__(self, *, run: FlowRun, effects: Effects, now: datetime, rng: random.Random | None = None):
        self.run = run
        self.effects = effects
        self.now = now
        self.rng = rng or random.SystemRandom()
        self._load(run.flow_version.graph)
        self.steps = 0

    def _load(self, graph: dict) -> None:
        self.graph = graph or {}
        self.nodes = {node["id"]: node for node in self.graph.get("nodes", [])}
        self.edges = {
            (edge["source"], edge.get("source_handle") or "next"): edge["target"]
            for edge in self.graph.get("edges", [])
        }

    # --- events ---------------------------------------------------------------------------

    def start(self, *, text: str = "") -> None:
        self.steps = 0
        self.run.variables.setdefault("last_message", text)
        self.run.status = FlowRun.Status.RUNNING
        start = start_node_id(self.graph)
        if start is None:
            self._fail("no_start", _("The flow has no start node."))
            return
        self._run_from(start)

    def receive(self, inbound: Inbound) -> None:
        self.steps = 0
        self.run.variables["last_message"] = inbound.text
        if not self.run.is_active:
            return
        node = self.nodes.get(self.run.current_node)
        if self.run.awaiting != FlowRun.Awaiting.INPUT or node is None:
            self._trace(node or {"id": self.run.current_node, "type": "?"}, {"text": inbound.text}, {"ignored": True})
            return
        if node["type"] == "ai_reply":
            self._ai_turn(node, node.get("data") or {}, inbound.text)
            return
        if node["type"] == "ask":
            handle = self._answer_ask(node, inbound)
        else:
            handle = self._answer_menu(node, inbound)
        if handle is not None:
            self._continue(node["id"], handle)

    def resume_timer(self) -> bool:
        """Continues a run whose wait is over. Returns whether it did."""
        run = self.run
        if not (run.status == FlowRun.Status.WAITING and run.awaiting == FlowRun.Awaiting.TIMER):
            return False
        if run.wait_until and run.wait_until > self.now:
            return False
        self.steps = 0
        node_id = run.current_node
        run.wait_until = None
        run.awaiting = FlowRun.Awaiting.NOTHING
        run.status = FlowRun.Status.RUNNING
        self._trace({"id": node_id, "type": "wait"}, {}, {"resumed": True})
        self._continue(node_id, "next")
        return True

    # --- walking --------------------------------------------------------------------------

    def _continue(self, node_id: str, handle: str) -> None:
        target = self.edges.get((node_id, handle))
        if target is None:
            self._end(FlowRun.Status.FINISHED)
            return
        self._run_from(target)

    def _run_from(self, node_id: str) -> None:
        run = self.run
        run.status = FlowRun.Status.RUNNING
        run.awaiting = FlowRun.Awaiting.NOTHING
        while True:
            if self.steps >= max_steps_per_event():
                self._fail(
                    "loop_guard",
                    _("Stopped after %(n)d steps without waiting for the customer (a loop in the flow?).")
                    % {"n": self.steps},
                )
                return
            node = self.nodes.get(node_id)
            if node is None:
                self._fail("missing_node", _("The flow points to the missing node %(id)s.") % {"id": node_id})
                return
            self.steps += 1
            run.step_count += 1
            run.current_node = node_id
            handler = getattr(self, f"_node_{node['type']}", None)
            if handler is None:
                self._fail("unknown_node", _("Unknown node type %(type)s.") % {"type": node["type"]})
                return
            result = handler(node, node.get("data") or {})
            if result is None:  # the run waits, ended or handed over
                return
            if isinstance(result, _Jump):
                node_id = result.node_id
                continue
            target = self.edges.get((node_id, result))
            if target is None:
                self._end(FlowRun.Status.FINISHED)
                return
            node_id = target

    def _end(self, status: str, *, error: str = "") -> None:
        run = self.run
        run.status = status
        run.awaiting = FlowRun.Awaiting.NOTHING
        run.wait_until = None
        run.ended_at = self.now
        if error:
            run.error = error
        self.effects.release()

    def _fail(self, code: str, message: str) -> None:
        self._trace({"id": self.run.current_node or "-", "type": "error"}, {}, {"error": code, "detail": message})
        self._end(FlowRun.Status.FAILED, error=message)

    def _trace(self, node: dict, input: dict, output: dict) -> None:
        self.effects.trace(
            node_id=str(node.get("id", ""))[:64],
            node_type=str(node.get("type", ""))[:32],
            input=_summary(input),
            output=_summary(output),
        )

    # --- templating ---------------------------------------------------------------------

    def lookup(self, name: str) -> Any:
        variables = self.run.variables
        if name in variables:
            return variables[name]
        head, _sep, rest = name.partition(".")
        if head in variables and rest:
            return path_get(variables[head], rest)
        contact = self.effects.contact
        if head == "contact":
            if rest in ("name", "phone", "email"):
                return contact.get(rest, "")
            return path_get(contact.get("fields") or {}, rest)
        if head == "ticket":
            return self.effects.ticket_info.get(rest, "")
        if name == "name":
            return contact.get("name", "")
        if name == "protocol":
            return self.effects.ticket_info.get("protocol", "")
        return None

    def render(self, text: Any) -> str:
        return _VARIABLE.sub(lambda match: _as_text(self.lookup(match.group(1))), _as_text(text))

    def render_deep(self, value: Any) -> Any:
        if isinstance(value, str):
            whole = _VARIABLE.fullmatch(value.strip())
            if whole:  # "{{order}}" alone keeps the variable's JSON type
                found = self.lookup(whole.group(1))
                return found if found is not None else ""
            return self.render(value)
        if isinstance(value, dict):
            return {key: self.render_deep(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.render_deep(item) for item in value]
        return value

    # --- nodes ----------------------------------------------------------------------------

    def _node_start(self, node, data):
        self._trace(node, {}, {})
        return "next"

    def _send(self, node, **content) -> dict:
        if not content.get("template") and not self.effects.can_send_freeform():
            return {"error": "window_closed", "detail": _("WhatsApp's 24-hour window is closed: only templates.")}
        self.effects.send(**content)
        return {"sent": {key: value for key, value in content.items() if value}}

    def _node_send_message(self, node, data):
        template = data.get("template")
        if template:
            template = {**template, "components": self.render_deep(template.get("components") or [])}
        output = self._send(
            node,
            text=self.render(data.get("text", "")),
            media_url=self.render(data.get("media_url", "")),
            template=template,
        )
        self._trace(node, {}, output)
        return "next"

    def _wait_input(self, node, output: dict) -> None:
        self.run.status = FlowRun.Status.WAITING
        self.run.awaiting = FlowRun.Awaiting.INPUT
        self._trace(node, {}, {**output, "waiting": "input"})

    def _node_ask(self, node, data):
        self.run.retries = 0
        self._wait_input(node, self._send(node, text=self.render(data["text"])))
        return None

    def _menu_content(self, data) -> dict:
        text = self.render(data["text"])
        options = data["options"]
        numbered = "\n".join([text, *(f"*{n}* - {option['label']}" for n, option in enumerate(options, start=1))])
        if not (self.effects.supports_interactive and data.get("interactive", True)):
            return {"text": numbered}
        if len(options) <= 3:
            interactive = {
                "type": "button",
                "body": {"text": text[:1024]},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": option["id"], "title": option["label"][:20]}}
                        for option in options
                    ]
                },
            }
        else:
            interactive = {
                "type": "list",
                "body": {"text": text[:4096]},
                "action": {
                    "button": (data.get("button_text") or _("Options"))[:20],
                    "sections": [{"rows": [{"id": option["id"], "title": option["label"][:24]} for option in options]}],
                },
            }
        return {"text": numbered, "interactive": interactive}

    def _node_menu(self, node, data):
        self.run.retries = 0
        self._wait_input(node, self._send(node, **self._menu_content(data)))
        return None

    def _retry_or_fallback(self, node, data, inbound: Inbound, *, resend: dict) -> str | None:
        retries = data.get("retries", 2)
        self.run.retries += 1
        if self.run.retries > retries:
            self.run.retries = 0
            self._trace(node, {"text": inbound.text}, {"valid": False, "next": "fallback"})
            return "fallback"
        error_text = self.render(data.get("error_text") or _("Sorry, I didn't understand that."))
        resend = {**resend, "text": f"{error_text}\n\n{resend.get('text', '')}".strip()}
        self._send(node, **resend)
        self._trace(node, {"text": inbound.text}, {"valid": False, "retry": self.run.retries})
        return None

    def _answer_ask(self, node, inbound: Inbound) -> str | None:
        data = node.get("data") or {}
        ok, value = self._validate(data, inbound.text)
        if not ok:
            return self._retry_or_fallback(node, data, inbound, resend={"text": self.render(data["text"])})
        self.run.variables[data["variable"]] = value
        self.run.retries = 0
        self._trace(node, {"text": inbound.text}, {"valid": True, "saved": {data["variable"]: value}})
        return "next"

    def _validate(self, data: dict, text: str) -> tuple[bool, Any]:
        answer = (text or "").strip()
        kind = data.get("validation", "none")
        if kind == "none":
            return bool(answer), answer
        if kind == "options":
            options = [str(option) for option in data.get("options") or []]
            if answer.isdigit() and 1 <= int(answer) <= len(options):
                return True, options[int(answer) - 1]
            match = next((option for option in options if option.casefold() == answer.casefold()), None)
            return match is not None, match
        if kind == "regex":
            return re.fullmatch(data.get("pattern") or "", answer) is not None, answer
        if kind == "email":
            try:
                validate_email(answer)
            except ValidationError:
                return False, None
            return True, answer.lower()
        if kind == "number":
            number = parse_number(answer)
            return number is not None, _number_json(number) if number is not None else None
        if kind == "date":
            parsed = parse_date(answer)
            return parsed is not None, parsed.isoformat() if parsed else None
        return False, None

    def _answer_menu(self, node, inbound: Inbound) -> str | None:
        data = node.get("data") or {}
        options = data["options"]
        answer = inbound.text.strip()
        chosen = None
        if inbound.reply_id:
            chosen = next((option for option in options if option["id"] == inbound.reply_id), None)
        if chosen is None:
            number = re.match(r"^\s*(\d{1,2})\b", answer)
            if number and 1 <= int(number.group(1)) <= len(options):
                chosen = options[int(number.group(1)) - 1]
        if chosen is None:
            chosen = next((option for option in options if option["label"].casefold() == answer.casefold()), None)
        if chosen is None:
            return self._retry_or_fallback(node, data, inbound, resend=self._menu_content(data))
        if data.get("variable"):
            self.run.variables[data["variable"]] = chosen["label"]
        self.run.retries = 0
        self._trace(node, {"text": inbound.text}, {"valid": True, "option": chosen["id"]})
        return chosen["id"]

    def _node_condition(self, node, data):
        results = [self._rule(rule) for rule in data.get("rules") or []]
        passed = any(results) if data.get("match") == "any" else all(results)
        self._trace(node, {}, {"rules": results, "result": passed})
        return "true" if passed else "false"

    def _rule(self, rule: dict) -> bool:
        source, field, operator = rule["source"], rule.get("field") or "", rule["operator"]
        expected = self.render(rule.get("value")) if isinstance(rule.get("value"), str) else rule.get("value")
        if source == "business_hours":
            is_open = self.effects.business_hours_open(at=self.now)
            return is_open if operator != "closed" else not is_open
        if source == "tag":
            has = str(expected or field).strip().lower() in self.effects.tags
            return not has if operator == "not_has" else has
        if source == "variable":
            actual = self.lookup(field)
        elif source == "contact":
            actual = self.effects.contact.get(field)
        elif source == "contact_field":
            actual = (self.effects.contact.get("fields") or {}).get(field)
        else:  # message
            actual = self.run.variables.get("last_message", "")
        return compare(actual, operator, expected)

    def _node_set_variable(self, node, data):
        value = data["value"]
        value = self.render_deep(value) if isinstance(value, str) else value
        target = data.get("target", "variable")
        if target == "variable":
            self.run.variables[data["name"]] = value
        else:
            self.effects.contact_set(target=target, name=data["name"], value=value)
            if target == "contact":
                self.effects.contact[data["name"]] = value
            else:
                self.effects.contact.setdefault("fields", {})[data["name"]] = value
        self._trace(node, {}, {"set": {f"{target}.{data['name']}": value}})
        return "next"

    def _node_tag(self, node, data):
        name = self.render(data["tag"]).strip()
        add = data.get("action", "add") == "add"
        self.effects.tag(name=name, add=add)
        (self.effects.tags.add if add else self.effects.tags.discard)(name.lower())
        self._trace(node, {}, {"tag": name, "action": "add" if add else "remove"})
        return "next"

    def _node_http_request(self, node, data):
        method = data.get("method", "POST" if data.get("body") is not None else "GET")
        url = self.render(data["url"])
        headers = {key: self.render(value).strip() for key, value in (data.get("headers") or {}).items()}
        body = self.render_deep(data["body"]) if data.get("body") is not None else None
        timeout = float(data.get("timeout") or 10)
        trace_in = {"method": method, "url": url.split("?", 1)[0], "body": body}
        if not url_allowed(url):
            self._trace(node, trace_in, {"error": "url_not_allowed"})
            return "error"
        try:
            with httpx2.Client(timeout=timeout, follow_redirects=False) as client:
                response = client.request(method, url, headers=headers, json=body)
        except httpx2.HTTPError as exc:
            self._trace(node, trace_in, {"error": type(exc).__name__})
            if data.get("status_variable"):
                self.run.variables[data["status_variable"]] = 0
            return "error"
        content = response.content[:HTTP_RESPONSE_MAX_BYTES]
        try:
            payload = json.loads(content) if content else None
        except ValueError:
            payload = content.decode("utf-8", "replace")
        saved = {}
        for variable, path in (data.get("save") or {}).items():
            saved[variable] = self.run.variables[variable] = path_get(payload, path) if path else payload
        if data.get("status_variable"):
            self.run.variables[data["status_variable"]] = response.status_code
        ok = 200 <= response.status_code < 300
        self._trace(node, trace_in, {"status": response.status_code, "saved": saved})
        return "success" if ok else "error"

    def _node_ai_reply(self, node, data):
        return self._ai_turn(node, data, _as_text(self.run.variables.get("last_message", "")))

    def _ai_turn(self, node, data, text: str) -> None:
        """The AI agent answers and the run waits here for the customer's next words; when the
        agent hands over (ai.services.bot_outcome_apply moved the ticket), the run ends."""
        outcome = self.effects.ai_reply(agent_id=data.get("agent_id"), text=text)
        if outcome is None:
            self._trace(
                node, {}, {"error": "ai_not_available", "detail": _("AI not available: handed over to a person.")}
            )
            self.effects.handoff(queue_id=None, user_id=None)
            self._end(FlowRun.Status.HANDED_OVER)
            return None
        if outcome.get("answered"):
            self._wait_input(node, outcome)
            return None
        self._trace(node, {"text": text}, outcome)
        self._end(FlowRun.Status.HANDED_OVER)
        return None

    def _node_handoff(self, node, data):
        output = {"queue_id": data.get("queue_id"), "user_id": data.get("user_id")}
        if data.get("text"):
            output.update(self._send(node, text=self.render(data["text"])))
        self.effects.handoff(queue_id=data.get("queue_id"), user_id=data.get("user_id"))
        self._trace(node, {}, output)
        self._end(FlowRun.Status.HANDED_OVER)
        return None

    def _node_wait(self, node, data):
        run = self.run
        run.status = FlowRun.Status.WAITING
        run.awaiting = FlowRun.Awaiting.TIMER
        run.wait_until = self.now + timedelta(seconds=int(data["seconds"]))
        self.effects.schedule_timer(at=run.wait_until)
        self._trace(node, {}, {"wait_until": run.wait_until.isoformat()})
        return None

    def _node_randomizer(self, node, data):
        branches = data["branches"]
        chosen = self.rng.choices(branches, weights=[int(branch["weight"]) for branch in branches])[0]
        self._trace(node, {}, {"branch": chosen["id"]})
        return chosen["id"]

    def _node_go_to_flow(self, node, data):
        version = self.effects.flow_version(flow_id=data["flow_id"])
        if version is None:
            self._fail(
                "flow_not_published",
                _("The flow %(id)s does not exist or has no published version.") % {"id": data["flow_id"]},
            )
            return None
        self._trace(node, {}, {"flow_id": version.flow_id, "version": version.number})
        self.run.flow_id, self.run.flow_version = version.flow_id, version
        self._load(version.graph)
        start = start_node_id(self.graph)
        if start is None:
            self._fail("no_start", _("The flow has no start node."))
            return None
        return _Jump(start)

    def _node_close_ticket(self, node, data):
        self.effects.close(send_farewell=data.get("send_farewell", True))
        self._trace(node, {}, {"closed": True})
        self._end(FlowRun.Status.FINISHED)
        return None


@dataclass(frozen=True)
class _Jump:
    node_id: str


def url_allowed(url: str) -> bool:
    """http(s) without user info, to a host whose every address is public unless
    settings.FLOWS_HTTP_ALLOW_PRIVATE_URLS (resolved now; DNS rebinding is not covered)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return False
    if getattr(settings, "FLOWS_HTTP_ALLOW_PRIVATE_URLS", False):
        return True
    try:
        addresses = {ipaddress.ip_address(parts.hostname)}
    except ValueError:
        try:
            infos = socket.getaddrinfo(parts.hostname, port or 443, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return False
        addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}
    for address in addresses:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            return False
    return True


def compare(actual: Any, operator: str, expected: Any) -> bool:
    text = _as_text(actual).strip()
    wanted = _as_text(expected).strip()
    if operator == "empty":
        return text == ""
    if operator == "not_empty":
        return text != ""
    if operator in ("greater", "less"):
        left, right = parse_number(actual), parse_number(expected)
        if left is None or right is None:
            return False
        return left > right if operator == "greater" else left < right
    if operator in ("equals", "not_equals"):
        left, right = parse_number(actual), parse_number(expected)
        same = (left == right) if left is not None and right is not None else text.casefold() == wanted.casefold()
        return same if operator == "equals" else not same
    if operator == "contains":
        return wanted.casefold() in text.casefold()
    if operator == "starts_with":
        return text.casefold().startswith(wanted.casefold())
    if operator == "ends_with":
        return text.casefold().endswith(wanted.casefold())
    if operator == "regex":
        try:
            return re.search(wanted, text) is not None
        except re.error:
            return False
    return False
