"""The API's rate limits (config.api.throttling): per member, per address without a token, per
address for everyone; one Redis round trip; JSON 429 with Retry-After."""

import time

import pytest

from accounts.models import Role
from config.api.throttling import KEY_PREFIX
from config.redis import get_redis

pytestmark = pytest.mark.django_db

ME = "/api/v1/auth/me"
REFRESH = "/api/v1/auth/refresh"


@pytest.fixture
def rates(settings):
    def set_rates(**rates):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"user": None, "anon": None, "ip": None, **rates},
        }

    return set_rates


def test_a_member_past_the_rate_gets_429_with_retry_after_and_others_do_not(rates, tenant, make_member, client_for):
    rates(user="3/min")
    first, second = (
        client_for(make_member(tenant, Role.AGENT), tenant),
        client_for(make_member(tenant, Role.AGENT), tenant),
    )
    assert [first.get(ME).status_code for _ in range(3)] == [200, 200, 200]
    refused = first.get(ME)
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert 1 <= int(refused["Retry-After"]) <= 120
    assert second.get(ME).status_code == 200


def test_the_address_limit_counts_every_member_behind_it(rates, tenant, make_member, client_for):
    rates(user="100/min", ip="4/min")
    clients = [client_for(make_member(tenant, Role.AGENT), tenant) for _ in range(2)]
    assert [clients[n % 2].get(ME).status_code for n in range(4)] == [200, 200, 200, 200]
    assert clients[0].get(ME).status_code == 429
    assert clients[1].get(ME).status_code == 429


def test_requests_without_a_token_have_their_own_lower_limit(rates, api_client):
    rates(anon="2/min", ip="100/min")
    answers = [api_client.post(REFRESH, {"refresh": "not-a-token"}, format="json").status_code for _ in range(3)]
    assert answers[:2] == [401, 401]
    assert answers[2] == 429


def test_the_previous_window_still_counts_for_the_part_of_it_inside_the_sliding_window(
    rates, tenant, make_member, client_for, monkeypatch
):
    """100 requests in the previous minute weigh 100 × the share of it still in the last 60 s: 10 s
    into this minute that is 83 (refused, for 45 s more), 57 s into it 5 (allowed)."""
    rates(user="10/min")
    member = make_member(tenant, Role.AGENT)
    client = client_for(member, tenant)
    window = int(time.time() // 60)
    get_redis().set(f"{KEY_PREFIX}:user:user-{member.pk}:{window - 1}", 100, ex=300)
    monkeypatch.setattr("config.api.throttling.clock", lambda: window * 60 + 10.0)
    refused = client.get(ME)
    assert (refused.status_code, refused["Retry-After"]) == (429, "45")
    monkeypatch.setattr("config.api.throttling.clock", lambda: window * 60 + 57.0)
    assert client.get(ME).status_code == 200


def test_no_rate_means_no_limit_and_no_redis_key(rates, tenant, make_member, client_for):
    rates()
    client = client_for(make_member(tenant, Role.AGENT), tenant)
    assert {client.get(ME).status_code for _ in range(5)} == {200}
    assert not get_redis().keys(f"{KEY_PREFIX}:*")


def test_the_counters_are_small_integers_that_expire(rates, tenant, make_member, client_for):
    rates(user="600/min", ip="1200/min")
    client = client_for(make_member(tenant, Role.AGENT), tenant)
    for _ in range(3):
        client.get(ME)
    keys = get_redis().keys(f"{KEY_PREFIX}:*")
    assert len(keys) == 2  # this minute's counter of the member and of the address
    for key in keys:
        assert int(get_redis().get(key)) == 3
        assert 60 < get_redis().ttl(key) <= 120
