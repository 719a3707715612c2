"""Provider-independent pieces: status ordering, errors and their explanations, adapter lookup."""

import pytest

from whatsapp.choices import DeliveryStatus, Provider
from whatsapp.models import Connection
from whatsapp.providers import get_adapter
from whatsapp.providers.base import as_data_url, constant_time_equals, get_header
from whatsapp.providers.errors import ProviderError, explain

S = DeliveryStatus


@pytest.mark.parametrize(
    "current, new, applies",
    [
        (None, S.SENT, True),
        (None, S.READ, True),
        (S.PENDING, S.SENT, True),
        (S.SENT, S.DELIVERED, True),
        (S.SENT, S.READ, True),  # delivered skipped
        (S.READ, S.PLAYED, True),
        (S.DELIVERED, S.DELIVERED, False),  # duplicate
        (S.READ, S.DELIVERED, False),  # late, never downgrade
        (S.DELIVERED, S.SENT, False),
        (S.PENDING, S.FAILED, True),
        (S.SENT, S.FAILED, True),
        (S.DELIVERED, S.FAILED, False),
        (S.FAILED, S.SENT, False),
        (S.FAILED, S.READ, False),
        (S.FAILED, S.FAILED, False),
    ],
)
def test_delivery_status_only_moves_forward(current, new, applies):
    assert DeliveryStatus.advances(current, new) is applies


def test_status_ranks():
    ranks = [DeliveryStatus.rank(s) for s in (S.PENDING, S.SENT, S.DELIVERED, S.READ, S.PLAYED)]
    assert ranks == sorted(ranks) and len(set(ranks)) == 5


@pytest.mark.parametrize(
    "code, http_status, retryable",
    [
        ("131047", 400, False),
        ("131026", 400, False),
        ("131049", 400, False),
        ("132015", 400, False),
        ("132016", 400, False),
        ("100", 400, False),
        ("190", 401, False),
        ("130429", 400, True),
        ("131056", 400, True),
        ("131000", 500, True),
        ("4", 400, True),
        ("bad_request", 502, True),  # any 5xx
        ("timeout", None, True),
    ],
)
def test_provider_error_retryability(code, http_status, retryable):
    assert ProviderError(code=code, http_status=http_status).retryable is retryable


@pytest.mark.parametrize(
    "code, words",
    [
        ("131047", "24 hours"),
        ("131026", "cannot receive"),
        ("130429", "Too many messages"),
        ("131051", "does not support"),
        ("132015", "paused"),
        ("132016", "disabled"),
        ("131049", "marketing"),
        ("131056", "short time"),
        ("100", "invalid"),
        ("190", "credentials"),
        ("200", "credentials"),
        ("999999", "could not process"),
    ],
)
def test_every_reference_code_has_a_human_explanation(code, words):
    assert words in explain(code)
    assert ProviderError(code=code).explanation == explain(code)


def test_provider_error_is_a_prosa_error_with_stable_code():
    error = ProviderError(code=131047, title="(#131047) Re-engagement message", http_status=400)
    assert (error.code, error.status_code, error.fields) == ("131047", 502, {})
    assert "131047" in repr(error) and "Re-engagement" in repr(error)


def test_get_adapter_refuses_unknown_providers():
    with pytest.raises(ValueError):
        get_adapter(Connection(provider="telegram"))
    assert get_adapter(Connection(provider=Provider.CLOUD)).provider == Provider.CLOUD


def test_helpers():
    assert get_header({"Content-Type": "a"}, "content-type") == "a"
    assert get_header({"HTTP_X_HUB_SIGNATURE_256": "s"}, "X-Hub-Signature-256") == "s"
    assert get_header({}, "x") is None
    assert constant_time_equals("abc", "abc") is True
    assert constant_time_equals("abc", "abd") is False
    assert constant_time_equals("", "") is False
    assert constant_time_equals(None, "abc") is False
    assert as_data_url("") == ""
    assert as_data_url("data:image/png;base64,AAAA") == "data:image/png;base64,AAAA"
    assert as_data_url("iVBORw0KGgo=") == "data:image/png;base64,iVBORw0KGgo="
    with pytest.raises(ValueError):
        as_data_url("not base64 at all!")
