"""The ticket search's message words (tickets.MessageWord, filled by tickets 0008's triggers) and
what a search finds with them (tickets.selectors.ticket_search_q)."""

import pytest
from django.db import connection

from crm.tests.factories import ContactFactory
from tenants.context import tenant_context
from tickets.message_changes import message_edit_apply
from tickets.models import MessageWord, Ticket
from tickets.selectors import search_words, ticket_search_q
from tickets.tests.factories import MessageFactory, TicketFactory
from whatsapp.providers.base import MessageEdited

pytestmark = pytest.mark.django_db


def _found(text: str) -> set[int]:
    return set(Ticket.objects.filter(ticket_search_q(text)).values_list("pk", flat=True))


def _words(message) -> list[str]:
    return sorted(MessageWord.objects.filter(message_id=message.pk).values_list("word", flat=True))


def _sql_words(text: str) -> set[str]:
    """The words the messages' trigger would store for this text."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT left(word, 60) FROM unnest(tickets_search_words(%s)) AS word", [text])
        return {row[0] for row in cursor.fetchall()}


def test_every_inserted_message_gets_its_words_from_the_database(tenant):
    with tenant_context(tenant):
        message = MessageFactory(text="Olá! Quero CANCELAR o pedido #12345, e-mail joão.silva@exemplo.com.br")
        assert _words(message) == sorted(
            ["ola", "quero", "cancelar", "o", "pedido", "12345", "e-mail", "e", "mail", "joao.silva@exemplo.com.br"]
        )
        assert MessageWord.objects.filter(message_id=message.pk).values("ticket_id").distinct().get() == {
            "ticket_id": message.ticket_id
        }
        assert _words(MessageFactory(text="")) == []


def test_words_are_cut_to_sixty_characters(tenant):
    with tenant_context(tenant):
        message = MessageFactory(text="a" * 100 + " fim")
        assert _words(message) == ["a" * 60, "fim"]


def test_an_edit_adds_the_new_words_and_the_earlier_text_stays_findable(tenant):
    with tenant_context(tenant):
        message = MessageFactory(text="quero o boleto")
        edit = MessageEdited(
            channel_id="x",
            provider_message_id=message.provider_message_id,
            new_text="quero o pix por favor",
            timestamp=None,
        )
        assert message_edit_apply(connection=message.connection, update=edit) is not None
        assert _words(message) == ["boleto", "favor", "o", "pix", "por", "quero"]
        assert _found("pix") == _found("boleto") == {message.ticket_id}
        # Delivery receipts and other updates that leave the text alone add nothing.
        message.status = "read"
        message.save(update_fields=["status"])
        assert len(_words(message)) == 6


def test_a_search_finds_word_beginnings_ignoring_case_and_accents(tenant):
    with tenant_context(tenant):
        cancel = MessageFactory(text="Gostaria de CANCELAMENTO do serviço").ticket_id
        not_yet = MessageFactory(text="Ainda não recebi").ticket_id
        order = MessageFactory(text="pedido 778899 atrasado").ticket_id
        assert _found("cancel") == {cancel}
        assert _found("Cancelamento") == {cancel}
        assert _found("servico") == _found("SERVIÇO") == {cancel}
        assert _found("nao") == _found("não") == {not_yet}
        assert _found("7788") == {order}
        assert _found("celamento") == set()  # the middle of a word is not its beginning


def test_every_word_must_be_in_the_ticket_in_any_of_its_messages(tenant):
    with tenant_context(tenant):
        both = TicketFactory()
        MessageFactory(ticket=both, text="quero cancelar")
        MessageFactory(ticket=both, text="o pedido 55")
        only_one = MessageFactory(text="cancelar a assinatura").ticket_id
        assert _found("cancelar pedido") == {both.pk}
        assert _found("cancelar") == {both.pk, only_one}


def test_short_words_match_whole_words_only(tenant):
    with tenant_context(tenant):
        whole = MessageFactory(text="ok").ticket_id
        MessageFactory(text="okay, obrigado")
        assert _found("ok") == {whole}
        assert _found("oka") != set()


def test_the_contact_or_the_messages(tenant):
    with tenant_context(tenant):
        by_contact = TicketFactory(contact=ContactFactory(name="Beatriz Cancela")).pk
        by_text = MessageFactory(text="vou cancelar").ticket_id
        assert _found("cancela") == {by_contact, by_text}


def test_another_tenants_words_find_nothing(tenant, other_tenant):
    with tenant_context(other_tenant):
        MessageFactory(tenant=other_tenant, text="segredo industrial")
    with tenant_context(tenant):
        assert _found("segredo") == set()
        assert not MessageWord.objects.exists()


def test_a_search_of_punctuation_only_looks_at_contacts(tenant):
    with tenant_context(tenant):
        MessageFactory(text="#### !!!")
        assert search_words("#!") == []
        assert _found("#!") == set()


@pytest.mark.parametrize(
    "text",
    [
        "cancelar",
        "Cancelar  PEDIDO",
        "João Conceição",
        "não recebi o código",
        "pedido 12345",
        "abc123 123abc",
        "日本語 テキスト",
        "ÅNGSTRÖM ÿ",
        "ØRESUND Ωmega",
        "cancelar\u00a0pedido",
        "x" * 80,
        # Not plain words: the database splits these.
        "joão.silva@exemplo.com.br",
        "e-mail",
        "R$ 50,00",
        "snake_case",
        "https://loja.com.br/p/1",
        "12/03/2026",
    ],
)
def test_python_splits_a_search_exactly_as_the_database_function(text):
    assert set(search_words(text)) == _sql_words(text)


def test_plain_words_are_split_without_a_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert search_words(" Não  recebi ") == ["recebi", "nao"]
    with django_assert_num_queries(1):
        assert search_words("e-mail") == ["e-mail", "mail", "e"]


def test_a_search_keeps_its_eight_longest_words(tenant):
    words = search_words("a bb ccc dddd eeeee ffffff ggggggg hhhhhhhh iiiiiiiii jjjjjjjjjj")
    assert words == ["jjjjjjjjjj", "iiiiiiiii", "hhhhhhhh", "ggggggg", "ffffff", "eeeee", "dddd", "ccc"]


def test_several_words_are_one_set_of_tickets_for_the_primary_key(tenant):
    """Every word's tickets are joined into one set before the primary key is probed: one array
    per word ANDed on the key made PostgreSQL 15 walk every pair of their ids (a two-word search
    of common words took 4.6 s at 600k messages)."""
    with tenant_context(tenant):
        both = MessageFactory(text="quero cancelar o pedido").ticket
        MessageFactory(text="quero trocar o pedido")
        MessageFactory(text="cancelar")
        query = str(Ticket.objects.filter(ticket_search_q("quero cancelar pedido")).query)
        assert query.count('"tickets_ticket"."id" = ANY(ARRAY(') == 1
        assert _found("quero cancelar pedido") == {both.pk}
