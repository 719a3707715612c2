"""Realistic data at scale for the benchmarks: `python manage.py seed_load` (tickets app) calls `seed_load`.

What it creates, per tenant (`load-1` … `load-N`, the first holding 60% of everything, the others
sharing the rest evenly): an admin, two supervisors and agents (one per ~2,500 tickets, 3 to 40),
five queues with agents as members, eight tags, one Cloud connection; contacts with Brazilian
mobile numbers; tickets drawn over the contacts with a Zipf-like skew (a few contacts have hundreds
of tickets, most have one or none); ~3.5% of the tickets pending/open (the contact's latest, in the
last two days, across queues and agents), the rest closed over the past year; messages of every type
(mostly text, then photos, voice notes, documents, videos, stickers, locations, shared contacts,
button replies), agents' answers with delivery statuses and a few internal notes; ticket history
(created / accepted / closed); tags on tickets and contacts. Denormalized fields are consistent:
`ticket.last_message_at`, `last_message_preview`, `last_inbound_at`, `unread_count`,
`first_response_at`, `contact.last_message_at`; protocols are 1…n per tenant in time order and the
tenant's `ticket_protocol` sequence is advanced past them.

Speed: the big tables are written with PostgreSQL COPY (psycopg 3 `cursor.copy`), with primary
keys reserved from the tables' own sequences, one transaction per tenant; then VACUUM ANALYZE.

It refuses to run twice: when a tenant whose slug starts with `load-` exists it raises
`SeedRefused` (use a fresh database). Randomness is seeded, so a run is reproducible.
"""

from __future__ import annotations

import enum
import hashlib
import json
import random
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate
from types import SimpleNamespace

from django.contrib.auth.hashers import make_password
from django.db import connection, models, transaction
from django.utils import timezone

from accounts.models import Membership, Role, User
from crm.models import Contact, Tag
from tenants.context import tenant_context
from tenants.models import Tenant
from tenants.services import tenant_create
from tickets.inbound import message_preview
from tickets.models import Message, MessageWord, Queue, TenantSequence, Ticket, TicketEvent
from tickets.sequences import PROTOCOL
from whatsapp.choices import ConnectionStatus, DeliveryStatus, MessageType, Provider
from whatsapp.models import Connection

SLUG_PREFIX = "load-"
PASSWORD = "bench-load-2026"
BIG_TENANT_SHARE = 0.6
ACTIVE_SHARE = 0.035
PENDING_SHARE_OF_ACTIVE = 0.45
HISTORY_DAYS = 365
QUEUE_NAMES = ["Vendas", "Suporte", "Financeiro", "Pós-venda", "Cobrança"]
TAG_NAMES = ["vip", "reclamação", "atacado", "primeira compra", "troca", "urgente", "b2b", "indicação"]
FIRST_NAMES = (
    "Ana Bruno Carla Daniel Eduarda Felipe Gabriela Henrique Isabela João Juliana Lucas Mariana Mateus "
    "Natália Otávio Paula Rafael Sofia Thiago Vitória Gustavo Larissa Pedro Camila Rodrigo Beatriz André "
    "Fernanda Marcelo Letícia Ricardo Amanda Caio Bianca Diego Helena Igor Luana Maria José Antônio"
).split()
LAST_NAMES = (
    "Silva Santos Oliveira Souza Rodrigues Ferreira Alves Pereira Lima Gomes Costa Ribeiro Martins Carvalho "
    "Almeida Lopes Soares Fernandes Vieira Barbosa Rocha Dias Nascimento Andrade Moreira Nunes Marques "
    "Machado Mendes Freitas Cardoso Ramos Gonçalves Santana Teixeira Araújo Conceição"
).split()
DDDS = ["11", "21", "31", "41", "51", "61", "71", "81", "85", "19", "27", "48", "62", "92"]
PRODUCTS = (
    "geladeira fogão micro-ondas notebook celular tênis camiseta sofá colchão cadeira mesa impressora "
    "monitor fone ventilador bicicleta perfume relógio mochila panela"
).split()
INBOUND_TEXTS = [
    "Olá, boa tarde!",
    "Oi, tudo bem?",
    "Bom dia, preciso de ajuda com meu pedido {order}",
    "Meu pedido {order} ainda não chegou, já passou do prazo",
    "Quero cancelar o pedido {order}",
    "Vocês têm {product} em estoque?",
    "Qual o valor do frete para o CEP {cep}?",
    "O {product} veio com defeito, como faço a troca?",
    "Consigo parcelar em 10x no cartão?",
    "Recebi o boleto mas o código de barras não funciona",
    "Obrigado pelo atendimento!",
    "Ok, aguardo retorno",
    "Pode me passar o código de rastreio?",
    "O entregador não encontrou meu endereço",
    "Quero falar com um atendente",
    "Vocês fazem entrega no sábado?",
    "Já fiz o pagamento do pix, segue comprovante",
    "Não recebi a nota fiscal do pedido {order}",
    "O {product} ainda está na promoção?",
    "Perfeito, muito obrigado",
    "Ainda estou esperando uma resposta",
    "Meu cupom de desconto não está funcionando",
]
OUTBOUND_TEXTS = [
    "Olá! Sou {agent}, vou te ajudar. Pode me informar o número do pedido?",
    "Verifiquei aqui: o pedido {order} saiu para entrega hoje.",
    "O código de rastreio é BR{cep}XX, você pode acompanhar pelo site dos Correios.",
    "Sinto muito pelo transtorno! Já abri a solicitação de troca do {product}.",
    "Sim, temos {product} em estoque. O frete para sua região é grátis.",
    "O cancelamento do pedido {order} foi feito, o estorno aparece em até 2 faturas.",
    "Pode parcelar em até 10x sem juros no cartão.",
    "Segue a segunda via do boleto.",
    "Mais alguma coisa em que posso ajudar?",
    "Obrigado pelo contato, tenha um ótimo dia!",
    "Um momento, por favor, estou verificando.",
]
NOTE_TEXTS = ["Cliente recorrente, priorizar", "Aguardando retorno do financeiro", "Troca aprovada pela supervisão"]
INBOUND_TYPES = [
    (MessageType.TEXT, 780),
    (MessageType.IMAGE, 70),
    (MessageType.VOICE, 50),
    (MessageType.AUDIO, 10),
    (MessageType.DOCUMENT, 30),
    (MessageType.VIDEO, 15),
    (MessageType.STICKER, 15),
    (MessageType.LOCATION, 10),
    (MessageType.CONTACTS, 5),
    (MessageType.INTERACTIVE_REPLY, 10),
    (MessageType.BUTTON_REPLY, 5),
]
OUTBOUND_TYPES = [(MessageType.TEXT, 930), (MessageType.IMAGE, 30), (MessageType.DOCUMENT, 30), (MessageType.AUDIO, 10)]
MEDIA = {
    MessageType.IMAGE: ("image/jpeg", ".jpg", 180_000),
    MessageType.VOICE: ("audio/ogg; codecs=opus", ".ogg", 40_000),
    MessageType.AUDIO: ("audio/mpeg", ".mp3", 900_000),
    MessageType.DOCUMENT: ("application/pdf", ".pdf", 250_000),
    MessageType.VIDEO: ("video/mp4", ".mp4", 4_000_000),
    MessageType.STICKER: ("image/webp", ".webp", 20_000),
}
DOCUMENT_NAMES = ["comprovante.pdf", "nota-fiscal.pdf", "boleto.pdf", "contrato.pdf", "orcamento.pdf"]
PLACES = [
    ("Av. Paulista, 1000", "Av. Paulista, 1000 - Bela Vista, São Paulo - SP", -23.5651, -46.6520),
    ("Loja Centro", "R. XV de Novembro, 200 - Centro, Curitiba - PR", -25.4290, -49.2671),
    ("Casa", "R. das Flores, 45 - Savassi, Belo Horizonte - MG", -19.9385, -43.9340),
]


class SeedRefused(Exception):
    """The database already holds seeded tenants."""


@dataclass
class SeedSummary:
    tenants: int = 0
    users: int = 0
    contacts: int = 0
    tickets: int = 0
    active_tickets: int = 0
    messages: int = 0
    ticket_events: int = 0
    seconds: float = 0.0
    tenant_slugs: list[str] = field(default_factory=list)


# --- COPY helpers --------------------------------------------------------------------------------


def _reserve_ids(model: type[models.Model], count: int) -> int:
    """The first of `count` consecutive primary keys taken from the table's own sequence (the seed
    is the only writer while it runs), so rows can reference each other before they are written."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [connection.ops.quote_name(table)])
        sequence = cursor.fetchone()[0]
        cursor.execute("SELECT nextval(%s)", [sequence])
        first = cursor.fetchone()[0]
        if count > 1:
            cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
    return first


def _default(model_field: models.Field, now: datetime):
    if getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False):
        return now
    if model_field.has_default():
        value = model_field.get_default()
    elif model_field.null:
        return None
    elif isinstance(model_field, models.BooleanField):
        return False
    else:
        value = ""
    if isinstance(model_field, models.JSONField):
        return json.dumps(value)
    return value.value if isinstance(value, enum.Enum) else value


class _Copier:
    """Writes rows (dicts by attname) of one model with COPY. Fields a row leaves out get the
    model's default, so fields added to the models later are filled without touching this code."""

    def __init__(self, model: type[models.Model], now: datetime):
        self.fields = [f for f in model._meta.concrete_fields if not f.generated]  # (PostgreSQL computes those)
        self.json = {f.attname for f in self.fields if isinstance(f, models.JSONField)}
        self.defaults = [_default(f, now) for f in self.fields]
        self.attnames = [f.attname for f in self.fields]
        columns = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)
        self.sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"

    def tuple(self, row: dict) -> tuple:
        values = []
        for attname, default in zip(self.attnames, self.defaults, strict=True):
            if attname in row:
                value = row[attname]
                if attname in self.json:
                    value = json.dumps(value)
                elif isinstance(value, enum.Enum):
                    value = value.value  # TextChoices: psycopg would dump an Enum's name
                values.append(value)
            else:
                values.append(default)
        return tuple(values)

    def write(self, rows: Iterable[dict]) -> int:
        count = 0
        with connection.cursor() as cursor, cursor.copy(self.sql) as copy:
            for row in rows:
                copy.write_row(self.tuple(row))
                count += 1
        return count


def _copy_m2m(through: type[models.Model], left: str, right: str, pairs: Iterable[tuple[int, int]]) -> int:
    table = connection.ops.quote_name(through._meta.db_table)
    count = 0
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({left}, {right}) FROM STDIN") as copy:
        for pair in pairs:
            copy.write_row(pair)
            count += 1
    return count


# --- the plan ------------------------------------------------------------------------------------


def split(total: int, parts: int) -> list[int]:
    """`total` over `parts` tenants: the first gets 60% (all of it when alone), the others the rest
    evenly; the shares add up to `total` exactly."""
    if parts == 1:
        return [total]
    big = round(total * BIG_TENANT_SHARE)
    rest = total - big
    shares = [big] + [rest // (parts - 1)] * (parts - 1)
    for i in range(rest - sum(shares[1:])):
        shares[1 + i] += 1
    return shares


def _weighted(rng: random.Random, table: list[tuple[str, int]]) -> Callable[[], str]:
    values = [value for value, _w in table]
    cum = list(accumulate(weight for _v, weight in table))
    top = cum[-1]

    def pick() -> str:
        return values[bisect_left(cum, rng.random() * top)]

    return pick


@dataclass
class _People:
    admin: User
    supervisors: list[User]
    agents: list[User]
    queues: list[Queue]
    members: dict[int, list[int]]  # queue id → agent ids
    tags: list[Tag]
    connection: Connection


def _people(tenant: Tenant, index: int, tickets: int, password_hash: str, rng: random.Random) -> _People:
    agent_count = min(40, max(3, round(tickets / 2500)))
    domain = f"{tenant.slug}.bench.prosa.local"
    specs = [(f"admin@{domain}", f"Admin {index}", Role.ADMIN)]
    specs += [(f"supervisor{i}@{domain}", f"Supervisor {index}.{i}", Role.SUPERVISOR) for i in (1, 2)]
    specs += [
        (f"agent{i}@{domain}", f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}", Role.AGENT)
        for i in range(1, agent_count + 1)
    ]
    users = User.objects.bulk_create(
        [User(email=email, name=name, password=password_hash) for email, name, _r in specs]
    )
    Membership.objects.bulk_create(
        [Membership(tenant=tenant, user=user, role=role) for user, (_e, _n, role) in zip(users, specs, strict=True)]
    )
    admin, supervisors, agents = users[0], users[1:3], users[3:]
    queues = Queue.objects.bulk_create(
        [Queue(tenant=tenant, name=name, menu_order=i) for i, name in enumerate(QUEUE_NAMES)]
    )
    members: dict[int, list[int]] = {queue.pk: [] for queue in queues}
    for i, agent in enumerate(agents):
        # Every agent in one queue, a third of them in a second one; every queue gets someone.
        chosen = {queues[i % len(queues)]}
        if i % 3 == 0:
            chosen.add(rng.choice(queues))
        for queue in chosen:
            members[queue.pk].append(agent.pk)
    Queue.members.through.objects.bulk_create(
        [Queue.members.through(queue_id=qid, user_id=uid) for qid, uids in members.items() for uid in uids]
    )
    tags = Tag.objects.bulk_create([Tag(tenant=tenant, name=name) for name in TAG_NAMES])
    conn = Connection(
        tenant=tenant,
        name="WhatsApp Principal",
        provider=Provider.CLOUD,
        status=ConnectionStatus.CONNECTED,
        is_default=True,
        phone_number_id=f"{SLUG_PREFIX}{tenant.pk}-{rng.randrange(10**9)}",
        display_phone_number=f"55119{index:04d}0000",
        access_token="bench-access-token",
        app_secret="bench-app-secret",
        # Nothing is ever sent during a benchmark: an address that refuses connections at once, and
        # no greeting (automatic replies would measure outbound delivery, not inbound processing).
        api_base_url="http://127.0.0.1:9",
        default_queue=queues[0],
    )
    conn.save()
    return _People(admin, list(supervisors), list(agents), list(queues), members, list(tags), conn)


def _fill(template: str, rng: random.Random, agent_name: str = "") -> str:
    return template.format(
        order=rng.randrange(10_000, 999_999),
        product=rng.choice(PRODUCTS),
        cep=f"{rng.randrange(10_000, 99_999)}-{rng.randrange(100, 999)}",
        agent=agent_name.split(" ")[0] or "Ana",
    )


def _seed_tenant(
    *, index: int, tickets: int, messages: int, contacts: int, password_hash: str, rng: random.Random, now: datetime
) -> SeedSummary:
    summary = SeedSummary()
    tenant = tenant_create(name=f"Load Co {index}", slug=f"{SLUG_PREFIX}{index}")
    summary.tenant_slugs.append(tenant.slug)
    with tenant_context(tenant), transaction.atomic():
        people = _people(tenant, index, tickets, password_hash, rng)
        summary.users = 1 + len(people.supervisors) + len(people.agents)
        agent_names = {user.pk: user.name for user in people.agents}
        conn = people.connection

        # Contacts: ids first; rows are written last, when their last_message_at is known.
        contact_first_id = _reserve_ids(Contact, contacts)
        contact_ids = list(range(contact_first_id, contact_first_id + contacts))
        # Zipf-like activity: weight 1/rank^0.7 over a shuffled order.
        ranked = contact_ids[:]
        rng.shuffle(ranked)
        cum_weights = list(accumulate(1 / (rank + 1) ** 0.7 for rank in range(len(ranked))))
        ticket_contacts = rng.choices(ranked, cum_weights=cum_weights, k=tickets) if contacts else []

        # Messages per ticket: at least one each, the rest heavy-tailed.
        counts = [1 if i < messages else 0 for i in range(tickets)]
        extra = messages - sum(counts)
        if extra > 0 and tickets:
            weights = [rng.paretovariate(1.6) for _ in range(tickets)]
            for i, n in Counter(rng.choices(range(tickets), weights=weights, k=extra)).items():
                counts[i] += n

        # The active tickets: the latest ticket of some contacts.
        distinct = list(dict.fromkeys(ticket_contacts))
        active_contacts = set(rng.sample(distinct, min(len(distinct), max(1, round(tickets * ACTIVE_SHARE)))))
        last_ticket_of: dict[int, int] = {}
        for i, contact_id in enumerate(ticket_contacts):
            last_ticket_of[contact_id] = i
        active = {last_ticket_of[c] for c in active_contacts}

        # Time line of each ticket: gaps between its messages, then a start that fits.
        gaps = []
        for i in range(tickets):
            ticket_gaps = [0.0]
            for _ in range(counts[i] - 1):
                gap = rng.expovariate(1 / 240)
                if rng.random() < 0.04:
                    gap += rng.uniform(3600, 20 * 3600)  # the customer answers hours later
                ticket_gaps.append(gap)
            gaps.append(list(accumulate(ticket_gaps)))
        start: list[datetime] = [now] * tickets
        active_start: dict[int, datetime] = {}
        for i in active:
            span = timedelta(seconds=gaps[i][-1])
            start[i] = now - span - timedelta(seconds=rng.uniform(60, 48 * 3600))
            active_start[ticket_contacts[i]] = start[i]
        oldest = now - timedelta(days=HISTORY_DAYS)
        for i in range(tickets):
            if i in active:
                continue
            span = timedelta(seconds=gaps[i][-1] + 3 * 3600)
            latest_end = active_start.get(ticket_contacts[i], now - timedelta(minutes=30))
            latest_start = max(oldest, latest_end - span)
            start[i] = oldest + (latest_start - oldest) * rng.random() ** 0.6  # busier lately

        order = sorted(range(tickets), key=lambda i: start[i])
        ticket_first_id = _reserve_ids(Ticket, tickets)
        message_first_id = _reserve_ids(Message, messages)
        ticket_id = {i: ticket_first_id + position for position, i in enumerate(order)}

        pick_in = _weighted(rng, INBOUND_TYPES)
        pick_out = _weighted(rng, OUTBOUND_TYPES)
        queue_ids = [queue.pk for queue in people.queues]
        ticket_rows: list[dict] = []
        event_rows: list[dict] = []
        ticket_tag_pairs: list[tuple[int, int]] = []
        contact_last: dict[int, datetime] = {}
        contact_first: dict[int, datetime] = {}
        message_copier = _Copier(Message, now)
        next_message_id = message_first_id
        buffer: list[dict] = []

        def flush():
            if buffer:
                message_copier.write(buffer)
                summary.messages += len(buffer)
                buffer.clear()

        for protocol, i in enumerate(order, start=1):
            tid = ticket_id[i]
            contact_id = ticket_contacts[i]
            is_active = i in active
            if is_active:
                status = Ticket.Status.PENDING if rng.random() < PENDING_SHARE_OF_ACTIVE else Ticket.Status.OPEN
            else:
                status = Ticket.Status.CLOSED
            queue_id = rng.choice(queue_ids)
            if status == Ticket.Status.PENDING and rng.random() < 0.1:
                queue_id = None
            assignee_id = None
            if status != Ticket.Status.PENDING:
                assignee_id = rng.choice(people.members[queue_id] or [a.pk for a in people.agents])
            answered = status != Ticket.Status.PENDING

            last = first_response = last_inbound = None
            unread = 0
            last_row: dict = {}
            for n, offset in enumerate(gaps[i]):
                sent_at = start[i] + timedelta(seconds=offset)
                inbound = n == 0 or not answered or rng.random() < 0.55
                row = _message_row(
                    rng, inbound=inbound, kind=pick_in() if inbound else pick_out(), agent_id=assignee_id,
                    agent_name=agent_names.get(assignee_id, ""), tenant_id=tenant.pk,
                )  # fmt: skip
                row.update(
                    id=next_message_id, tenant_id=tenant.pk, ticket_id=tid, connection_id=conn.pk,
                    sent_at=sent_at, created_at=sent_at, updated_at=sent_at,
                )  # fmt: skip
                if row["provider_message_id"] is None:
                    row["provider_message_id"] = f"wamid.LOAD{tenant.pk}x{next_message_id}"
                next_message_id += 1
                buffer.append(row)
                if inbound:
                    last_inbound = sent_at
                    unread += 1
                elif not row["is_internal_note"]:
                    unread = 0
                    first_response = first_response or sent_at
                last, last_row = sent_at, row
            if len(buffer) >= 20_000:
                flush()

            created_at = start[i] if last is None else start[i] - timedelta(seconds=rng.uniform(0, 2))
            last = last or created_at
            closed_at = last + timedelta(seconds=rng.uniform(60, 3 * 3600)) if status == Ticket.Status.CLOSED else None
            preview = (
                message_preview(
                    SimpleNamespace(type=last_row["type"], text=last_row.get("text", ""), payload=last_row["payload"])
                )
                if last_row
                else ""
            )
            ticket_rows.append(
                dict(
                    id=tid, tenant_id=tenant.pk, protocol=protocol, contact_id=contact_id, connection_id=conn.pk,
                    queue_id=queue_id, assignee_id=assignee_id, status=status,
                    priority=rng.choices(["normal", "low", "high", "urgent"], [85, 5, 8, 2])[0],
                    unread_count=0 if status == Ticket.Status.CLOSED else unread,
                    last_message_at=last if last_row else None, last_message_preview=preview,
                    last_inbound_at=last_inbound, first_response_at=first_response, closed_at=closed_at,
                    rating=rng.randint(1, 5) if closed_at and rng.random() < 0.2 else None,
                    created_at=created_at, updated_at=closed_at or last,
                )
            )  # fmt: skip
            event_rows.append(dict(ticket_id=tid, type=TicketEvent.Type.CREATED, data={"source": "whatsapp"},
                                   created_at=created_at))  # fmt: skip
            if assignee_id and first_response:
                event_rows.append(dict(ticket_id=tid, type=TicketEvent.Type.ACCEPTED, actor_id=assignee_id,
                                       created_at=first_response))  # fmt: skip
            if closed_at:
                event_rows.append(dict(ticket_id=tid, type=TicketEvent.Type.CLOSED, actor_id=assignee_id,
                                       created_at=closed_at))  # fmt: skip
            if rng.random() < 0.15:
                for tag in rng.sample(people.tags, rng.choice((1, 1, 2))):
                    ticket_tag_pairs.append((tid, tag.pk))
            contact_last[contact_id] = max(contact_last.get(contact_id, last), last)
            contact_first[contact_id] = min(contact_first.get(contact_id, created_at), created_at)
        flush()

        summary.tickets = _Copier(Ticket, now).write(ticket_rows)
        summary.active_tickets = len(active)
        event_first_id = _reserve_ids(TicketEvent, len(event_rows))
        for n, row in enumerate(event_rows):
            row.update(id=event_first_id + n, tenant_id=tenant.pk)
        summary.ticket_events = _Copier(TicketEvent, now).write(event_rows)
        _copy_m2m(Ticket.tags.through, "ticket_id", "tag_id", ticket_tag_pairs)

        contact_rows = []
        contact_tag_pairs = []
        for n, contact_id in enumerate(contact_ids):
            phone = f"55{rng.choice(DDDS)}9{index % 10}{n:07d}"
            first, surname = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            created = contact_first.get(contact_id, oldest + (now - oldest) * rng.random()) - timedelta(
                seconds=rng.uniform(0, 30 * 86400) if contact_id not in contact_first else rng.uniform(0, 5)
            )
            contact_rows.append(
                dict(
                    id=contact_id, tenant_id=tenant.pk, phone=phone, wa_id=phone,
                    name=f"{first} {surname}" if rng.random() < 0.6 else "",
                    profile_name=first if rng.random() < 0.85 else "",
                    last_message_at=contact_last.get(contact_id), created_at=created,
                    updated_at=contact_last.get(contact_id, created),
                )
            )  # fmt: skip
            if rng.random() < 0.1:
                contact_tag_pairs.append((contact_id, rng.choice(people.tags).pk))
        summary.contacts = _Copier(Contact, now).write(contact_rows)
        _copy_m2m(Contact.tags.through, "contact_id", "tag_id", contact_tag_pairs)

        TenantSequence.objects.create(tenant=tenant, name=PROTOCOL, value=tickets)
    summary.tenants = 1
    return summary


def _message_row(
    rng: random.Random, *, inbound: bool, kind: str, agent_id: int | None, agent_name: str, tenant_id: int
) -> dict:
    row: dict = {"type": kind, "payload": {}, "is_internal_note": False, "provider_message_id": None}
    if inbound:
        row.update(direction=Message.Direction.INBOUND, sender_type=Message.SenderType.CONTACT, status="")
    else:
        bot = agent_id is None or rng.random() < 0.08
        row.update(
            direction=Message.Direction.OUTBOUND,
            sender_type=Message.SenderType.BOT if bot else Message.SenderType.AGENT,
            author_id=None if bot else agent_id,
            status=rng.choices([DeliveryStatus.READ, DeliveryStatus.DELIVERED, DeliveryStatus.SENT], [60, 30, 10])[0],
        )
        if not bot and kind == MessageType.TEXT and rng.random() < 0.015:
            row.update(is_internal_note=True, status="", provider_message_id="", text=rng.choice(NOTE_TEXTS))
            return row
    if kind == MessageType.TEXT:
        row["text"] = _fill(rng.choice(INBOUND_TEXTS if inbound else OUTBOUND_TEXTS), rng, agent_name)
    elif kind in MEDIA:
        mime, ext, size = MEDIA[kind]
        digest = hashlib.sha256(f"{tenant_id}{rng.random()}".encode()).hexdigest()
        row.update(
            media_status=Message.MediaStatus.READY,
            media_file=f"tenants/{tenant_id}/media/2026/01/{digest[:32]}{ext}",
            media_ref=str(rng.randrange(10**15, 10**16)),
            media_mime=mime,
            media_size=int(size * rng.uniform(0.3, 1.7)),
            media_sha256=digest,
        )
        if kind == MessageType.DOCUMENT:
            row["media_filename"] = rng.choice(DOCUMENT_NAMES)
        if kind in (MessageType.IMAGE, MessageType.VIDEO, MessageType.DOCUMENT) and rng.random() < 0.3:
            row["text"] = _fill(rng.choice(["Segue foto do {product}", "Comprovante do pedido {order}"]), rng)
    elif kind == MessageType.LOCATION:
        name, address, lat, lng = rng.choice(PLACES)
        row.update(text=name, latitude=lat, longitude=lng, payload={"name": name, "address": address})
    elif kind == MessageType.CONTACTS:
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        phone = f"55{rng.choice(DDDS)}9{rng.randrange(10**7, 10**8)}"
        row.update(text=name, payload={"contacts": [{"name": name, "phones": [f"+{phone}"], "wa_ids": [phone],
                                                     "emails": [], "organization": "", "vcard": ""}]})  # fmt: skip
    elif kind in (MessageType.INTERACTIVE_REPLY, MessageType.BUTTON_REPLY):
        title = rng.choice(["Sim", "Não", "Falar com atendente", "2ª via de boleto", "Rastrear pedido"])
        row.update(text=title, payload={"reply_id": f"opt-{rng.randrange(1, 6)}", "reply_title": title})
    return row


def seed_load(
    *, tenants: int, tickets: int, messages: int, contacts: int, seed: int = 6, log: Callable[[str], None] = print
) -> SeedSummary:
    """Creates `tenants` tenants sharing the totals (60% in the first). Refuses a database that was
    already seeded (SeedRefused)."""
    if tenants < 1 or tickets < 0 or messages < 0 or contacts < 1:
        raise ValueError("tenants and contacts must be at least 1; tickets and messages not negative")
    if Tenant.objects.filter(slug__startswith=SLUG_PREFIX).exists():
        raise SeedRefused(
            f"This database already has seeded tenants ({SLUG_PREFIX}*): seed_load runs once; use a fresh database."
        )
    began = time.monotonic()
    rng = random.Random(seed)
    now = timezone.now()
    password_hash = make_password(PASSWORD)
    total = SeedSummary()
    for index, (t, m, c) in enumerate(
        zip(split(tickets, tenants), split(messages, tenants), split(contacts, tenants), strict=True), start=1
    ):
        part_began = time.monotonic()
        part = _seed_tenant(
            index=index, tickets=t, messages=m, contacts=c, password_hash=password_hash, rng=rng, now=now
        )
        log(
            f"{part.tenant_slugs[0]}: {part.contacts} contacts, {part.tickets} tickets "
            f"({part.active_tickets} pending/open), {part.messages} messages in {time.monotonic() - part_began:.1f} s"
        )
        for name in ("tenants", "users", "contacts", "tickets", "active_tickets", "messages", "ticket_events"):
            setattr(total, name, getattr(total, name) + getattr(part, name))
        total.tenant_slugs += part.tenant_slugs
    _analyze(log)
    total.seconds = time.monotonic() - began
    return total


def _analyze(log: Callable[[str], None]) -> None:
    """Fresh planner statistics (and, outside a transaction, the visibility map for index-only scans)."""
    # MessageWord: the words the messages' trigger wrote during their COPY (tickets 0008); its
    # index-only scans need the visibility map that VACUUM sets.
    tables = [m._meta.db_table for m in (Contact, Ticket, Message, MessageWord, TicketEvent)]
    tables += [Ticket.tags.through._meta.db_table, Contact.tags.through._meta.db_table]
    command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
    began = time.monotonic()
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"{command} {connection.ops.quote_name(table)}")
    log(f"{command}: {time.monotonic() - began:.1f} s")
