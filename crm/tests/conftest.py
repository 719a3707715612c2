import pytest

from accounts.models import Role


@pytest.fixture
def admin(tenant, make_member, client_for):
    return client_for(make_member(tenant, Role.ADMIN), tenant)


@pytest.fixture
def supervisor(tenant, make_member, client_for):
    return client_for(make_member(tenant, Role.SUPERVISOR), tenant)


@pytest.fixture
def agent(tenant, make_member, client_for):
    return client_for(make_member(tenant, Role.AGENT), tenant)


@pytest.fixture
def outsider(other_tenant, make_member, client_for):
    """An admin of another tenant."""
    return client_for(make_member(other_tenant, Role.ADMIN), other_tenant)


@pytest.fixture
def published(monkeypatch):
    """Events published through tickets.events.publish: [(groups, type, data)] (sent or not)."""
    from tickets import events

    sent = []
    original = events.publish

    def record(groups, event_type, data):
        sent.append((sorted(set(groups)), event_type, data))
        original(groups, event_type, data)

    monkeypatch.setattr(events, "publish", record)
    return sent
