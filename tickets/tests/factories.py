from datetime import timedelta

import factory
from django.utils import timezone

from crm.tests.factories import ContactFactory
from tenants.tests.factories import TenantOwnedFactory
from tickets.models import Message, Queue, QuickReply, ScheduledMessage, TenantSequence, Ticket, TicketEvent
from whatsapp.choices import MessageType
from whatsapp.tests.factories import ConnectionFactory


class TenantSequenceFactory(TenantOwnedFactory):
    class Meta:
        model = TenantSequence

    name = factory.Sequence(lambda n: f"sequence-{n}")


class QueueFactory(TenantOwnedFactory):
    class Meta:
        model = Queue

    name = factory.Sequence(lambda n: f"Fila {n}")


class TicketFactory(TenantOwnedFactory):
    class Meta:
        model = Ticket

    protocol = factory.Sequence(lambda n: n + 1)
    contact = factory.SubFactory(ContactFactory, tenant=factory.SelfAttribute("..tenant"))
    connection = factory.SubFactory(ConnectionFactory, tenant=factory.SelfAttribute("..tenant"))
    last_message_at = factory.LazyFunction(timezone.now)


class MessageFactory(TenantOwnedFactory):
    class Meta:
        model = Message

    ticket = factory.SubFactory(TicketFactory, tenant=factory.SelfAttribute("..tenant"))
    connection = factory.SelfAttribute("ticket.connection")
    direction = Message.Direction.INBOUND
    sender_type = Message.SenderType.CONTACT
    type = MessageType.TEXT
    text = factory.Sequence(lambda n: f"Mensagem número {n}")
    provider_message_id = factory.Sequence(lambda n: f"wamid.TEST{n:06d}")
    sent_at = factory.LazyFunction(timezone.now)


class TicketEventFactory(TenantOwnedFactory):
    class Meta:
        model = TicketEvent

    ticket = factory.SubFactory(TicketFactory, tenant=factory.SelfAttribute("..tenant"))
    type = TicketEvent.Type.CREATED


class QuickReplyFactory(TenantOwnedFactory):
    class Meta:
        model = QuickReply

    shortcut = factory.Sequence(lambda n: f"resposta{n}")
    text = "Olá {{name}}, seu protocolo é {{protocol}}."


class ScheduledMessageFactory(TenantOwnedFactory):
    class Meta:
        model = ScheduledMessage

    ticket = factory.SubFactory(TicketFactory, tenant=factory.SelfAttribute("..tenant"))
    text = "Lembrete agendado"
    send_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))
