# ruff: noqa: F401, F811 — pytest fixtures imported from whatsapp.tests.inbound_fixtures
"""Every inbound message type, for both providers, ends in the right rows."""

import pytest

from crm.models import Contact
from tickets.models import Message, Ticket, TicketEvent
from whatsapp.choices import MessageType
from whatsapp.tests.inbound_fixtures import (
    cloud_connection,
    deliver,
    evolution_connection,
)

pytestmark = pytest.mark.django_db

CLOUD = [
    (
        "text",
        MessageType.TEXT,
        "Olá! Meu pedido nº 1234 não chegou — vejam https://loja.example.com.br/pedidos/1234 😕",
    ),
    ("image", MessageType.IMAGE, "Foto da caixa amassada"),
    ("audio", MessageType.AUDIO, ""),
    ("voice", MessageType.VOICE, ""),
    ("video", MessageType.VIDEO, "Vídeo do problema"),
    ("document", MessageType.DOCUMENT, "Segue o orçamento"),
    ("sticker", MessageType.STICKER, ""),
    ("location", MessageType.LOCATION, "Museu de Arte de São Paulo"),
    ("contacts", MessageType.CONTACTS, "Márcia Gonçalves, Tião Souza"),
    ("interactive_button_reply", MessageType.INTERACTIVE_REPLY, "Falar com atendente"),
    ("interactive_list_reply", MessageType.INTERACTIVE_REPLY, "Financeiro"),
    ("button", MessageType.BUTTON_REPLY, "Confirmar entrega"),
    ("unsupported", MessageType.UNSUPPORTED, ""),
    ("text_reply", MessageType.TEXT, "Sim, é esse mesmo"),
    ("username_only", MessageType.TEXT, "Oi, tudo bem?"),
]
EVOLUTION = [
    ("text_conversation", MessageType.TEXT, "Olá! Meu pedido nº 1234 não chegou 😕"),
    ("text_extended_quoted", MessageType.TEXT, "Sim, é esse mesmo: https://loja.example.com.br/pedidos/1234"),
    ("image", MessageType.IMAGE, "Foto da caixa amassada"),
    ("audio", MessageType.AUDIO, ""),
    ("voice", MessageType.VOICE, ""),
    ("video", MessageType.VIDEO, "Vídeo do problema"),
    ("document", MessageType.DOCUMENT, "Segue o orçamento"),
    ("sticker", MessageType.STICKER, ""),
    ("location", MessageType.LOCATION, "Museu de Arte de São Paulo"),
    ("contact", MessageType.CONTACTS, "Márcia Gonçalves"),
    ("buttons_response", MessageType.INTERACTIVE_REPLY, "Falar com atendente"),
    ("list_response", MessageType.INTERACTIVE_REPLY, "Financeiro"),
    ("poll", MessageType.UNSUPPORTED, ""),
    ("lid", MessageType.TEXT, "Oi, sou eu de novo"),
    ("lid_without_alt", MessageType.TEXT, "Sem telefone"),
]


def _check(message, kind, text):
    assert message.type == kind
    assert message.text == text
    assert message.direction == Message.Direction.INBOUND
    assert message.sender_type == Message.SenderType.CONTACT
    assert message.status == ""
    ticket = message.ticket
    assert ticket.status == Ticket.Status.PENDING
    assert ticket.unread_count == 1
    assert ticket.last_message_at == message.sent_at
    assert ticket.last_inbound_at == message.sent_at
    assert ticket.last_message_preview
    assert len(ticket.last_message_preview) <= 200
    assert ticket.contact.last_message_at == message.sent_at
    if kind in (MessageType.IMAGE, MessageType.AUDIO, MessageType.VOICE, MessageType.VIDEO):
        assert message.media_ref
        assert message.media_mime
    if kind == MessageType.LOCATION:
        assert (message.latitude, message.longitude) == (-23.561414, -46.655881)
        assert message.payload["name"] == "Museu de Arte de São Paulo"
    if kind == MessageType.CONTACTS:
        assert message.payload["contacts"][0]["name"] == "Márcia Gonçalves"
    if kind == MessageType.INTERACTIVE_REPLY:
        assert message.payload["reply_id"]
        assert message.payload["reply_title"] == text
    if kind == MessageType.UNSUPPORTED:
        assert message.payload["raw"]
        assert message.payload["subtype"]


@pytest.mark.parametrize(("name", "kind", "text"), CLOUD, ids=[case[0] for case in CLOUD])
def test_cloud_message_types(cloud_connection, payload, deliver, name, kind, text):
    deliver(cloud_connection, payload(f"cloud/{name}"))
    message = Message.all_tenants.select_related("ticket__contact").get()
    _check(message, kind, text)


@pytest.mark.parametrize(("name", "kind", "text"), EVOLUTION, ids=[case[0] for case in EVOLUTION])
def test_evolution_message_types(evolution_connection, payload, deliver, name, kind, text):
    deliver(evolution_connection, payload(f"evolution/{name}"))
    message = Message.all_tenants.select_related("ticket__contact").get()
    _check(message, kind, text)


def test_a_cloud_text_makes_contact_ticket_and_message(cloud_connection, payload, deliver, tenant):
    deliver(cloud_connection, payload("cloud/text"))
    contact = Contact.all_tenants.get()
    assert (contact.tenant_id, contact.wa_id, contact.phone, contact.profile_name) == (
        tenant.pk,
        "5511987654321",
        "5511987654321",
        "João Conceição",
    )
    ticket = Ticket.all_tenants.get()
    assert (ticket.contact_id, ticket.connection_id, ticket.protocol) == (contact.pk, cloud_connection.pk, 1)
    assert list(TicketEvent.all_tenants.filter(ticket=ticket).values_list("type", flat=True)) == ["created"]
    message = Message.all_tenants.get()
    assert message.provider_message_id == "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjAxQTFCMkMzRDRFNUY2QTdCOEM5RDAA"
    assert message.sent_at.timestamp() == 1750680000
    assert ticket.last_message_preview == message.text[:200]


def test_a_username_only_sender_becomes_a_contact_without_phone(cloud_connection, payload, deliver):
    deliver(cloud_connection, payload("cloud/username_only"))
    contact = Contact.all_tenants.get()
    assert (contact.wa_id, contact.phone, contact.profile_name) == ("BR.1502576394655843", "", "Bia")


@pytest.mark.parametrize(
    ("name", "preview"),
    [
        ("voice", "🎤 Voice message"),
        ("image", "📷 Photo: Foto da caixa amassada"),
        ("sticker", "💟 Sticker"),
        ("location", "📍 Location: Museu de Arte de São Paulo"),
    ],
)
def test_media_previews_are_type_labels(cloud_connection, payload, deliver, name, preview):
    deliver(cloud_connection, payload(f"cloud/{name}"))
    assert Ticket.all_tenants.get().last_message_preview == preview


def test_every_labelled_type_is_known_without_translating_the_labels():
    from tickets.inbound import _LABELLED_TYPES, _labels

    assert set(_labels()) == _LABELLED_TYPES


def test_an_older_message_arriving_late_does_not_replace_the_preview(cloud_connection, payload, deliver):
    deliver(cloud_connection, payload("cloud/voice"))  # 1750680300
    deliver(cloud_connection, payload("cloud/image"))  # 1750680120, delivered late
    ticket = Ticket.all_tenants.get()
    assert ticket.last_message_preview == "🎤 Voice message"
    assert ticket.last_message_at.timestamp() == 1750680300
    assert ticket.unread_count == 2


def test_a_quoted_reply_links_the_known_message(cloud_connection, payload, deliver, tenant):
    from tickets.tests.factories import MessageFactory

    deliver(cloud_connection, payload("cloud/text"))
    ticket = Ticket.all_tenants.get()
    quoted_id = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjRGQjk2QzM2NjQ1QkU2RkI0OAA="
    original = MessageFactory(
        tenant=tenant,
        ticket=ticket,
        direction=Message.Direction.OUTBOUND,
        sender_type=Message.SenderType.AGENT,
        provider_message_id=quoted_id,
    )
    deliver(cloud_connection, payload("cloud/text_reply"))
    reply = Message.all_tenants.get(text="Sim, é esse mesmo")
    assert (reply.quoted_id, reply.quoted_provider_id) == (original.pk, quoted_id)


def test_a_quoted_reply_to_an_unknown_message_keeps_the_provider_id(cloud_connection, payload, deliver):
    deliver(cloud_connection, payload("cloud/text_reply"))
    reply = Message.all_tenants.get()
    assert reply.quoted_id is None
    assert reply.quoted_provider_id == "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjRGQjk2QzM2NjQ1QkU2RkI0OAA="


@pytest.mark.parametrize(
    ("provider", "added", "removed", "target_id", "emoji"),
    [
        (
            "cloud",
            "cloud/reaction",
            "cloud/reaction_removed",
            "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjRGQjk2QzM2NjQ1QkU2RkI0OAA=",
            None,
        ),
        ("evolution", "evolution/reaction", "evolution/reaction_removed", "3EB0FFEEDDCCBBAA998877", "❤️"),
    ],
)
def test_reactions_attach_to_the_target_and_removal_deletes_the_key(
    request, tenant, payload, deliver, provider, added, removed, target_id, emoji
):
    from tickets.tests.factories import MessageFactory, TicketFactory

    connection = request.getfixturevalue(f"{provider}_connection")
    ticket = TicketFactory(tenant=tenant, connection=connection)
    target = MessageFactory(
        tenant=tenant, ticket=ticket, direction=Message.Direction.OUTBOUND, sender_type="agent",
        provider_message_id=target_id, reactions={"user:7": "🙏"},
    )  # fmt: skip
    deliver(connection, payload(added))
    target.refresh_from_db()
    assert set(target.reactions) == {"user:7", "contact"}
    if emoji:
        assert target.reactions["contact"] == emoji
    assert Message.all_tenants.count() == 1  # no message of its own
    deliver(connection, payload(removed))
    target.refresh_from_db()
    assert target.reactions == {"user:7": "🙏"}


def test_a_reaction_to_an_unknown_message_is_ignored(cloud_connection, payload, deliver):
    deliver(cloud_connection, payload("cloud/reaction"))
    assert Message.all_tenants.count() == 0


@pytest.mark.parametrize("provider", ["cloud", "evolution"])
def test_from_me_is_an_outbound_phone_message_that_does_not_rename_or_count_unread(
    request, tenant, payload, deliver, provider
):
    from crm.tests.factories import ContactFactory

    connection = request.getfixturevalue(f"{provider}_connection")
    ContactFactory(tenant=tenant, name="", wa_id="5511987654321", phone="5511987654321", profile_name="João")
    deliver(connection, payload(f"{provider}/{'echo' if provider == 'cloud' else 'from_me'}"))
    message = Message.all_tenants.select_related("ticket").get()
    assert (message.direction, message.sender_type, message.status) == ("outbound", "phone", "sent")
    assert message.text == "Oi João, respondi pelo celular 👍"
    assert message.ticket.unread_count == 0
    assert message.ticket.last_inbound_at is None
    assert message.ticket.last_message_preview == "Oi João, respondi pelo celular 👍"
    assert Contact.all_tenants.get().profile_name == "João"


def test_group_messages_and_broadcasts_store_nothing(evolution_connection, payload, deliver):
    deliver(evolution_connection, payload("evolution/group"))
    deliver(evolution_connection, payload("evolution/status_broadcast"))
    assert Message.all_tenants.count() == 0
    assert Contact.all_tenants.count() == 0


def test_a_batch_applies_every_message_of_this_number_in_order(cloud_connection, payload, deliver):
    deliver(cloud_connection, payload("cloud/batch"))
    # The second entry is addressed to another phone_number_id: skipped, not stored here.
    assert list(Message.all_tenants.order_by("id").values_list("text", flat=True)) == [
        "primeira", "segunda", "terceira",
    ]  # fmt: skip
    # 5511987654321 and 551187654321 are one person (the ninth digit): one contact, one ticket.
    contact = Contact.all_tenants.get()
    assert contact.wa_id == "5511987654321"
    assert Ticket.all_tenants.get().unread_count == 3


def test_the_same_message_in_another_body_is_stored_once(cloud_connection, payload, deliver):
    body = payload("cloud/text")
    deliver(cloud_connection, body)
    deliver(cloud_connection, body.replace(b'"102290129340398"', b'"102290129340399"'))
    assert Message.all_tenants.count() == 1
    assert Ticket.all_tenants.get().unread_count == 1


def test_a_closed_ticket_and_a_new_message_open_a_new_ticket_with_a_new_protocol(cloud_connection, payload, deliver):
    deliver(cloud_connection, payload("cloud/text"))
    first = Ticket.all_tenants.get()
    Ticket.all_tenants.filter(pk=first.pk).update(status=Ticket.Status.CLOSED)
    deliver(cloud_connection, payload("cloud/image"))
    second = Ticket.all_tenants.exclude(pk=first.pk).get()
    assert (first.protocol, second.protocol) == (1, 2)
    assert second.contact_id == first.contact_id
    assert Message.all_tenants.get(ticket=second).type == MessageType.IMAGE


def test_a_second_message_joins_the_open_ticket(cloud_connection, payload, deliver):
    deliver(cloud_connection, payload("cloud/text"))
    deliver(cloud_connection, payload("cloud/image"))
    ticket = Ticket.all_tenants.get()
    assert Message.all_tenants.filter(ticket=ticket).count() == 2
    assert ticket.unread_count == 2
