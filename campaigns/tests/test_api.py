"""`/api/v1/campaigns/`: CRUD of drafts, schedule/pause/resume/cancel, stats, recipients, roles;
and the admin's actions."""

import io

import pytest
from django.urls import reverse

from accounts.models import Role
from campaigns.models import Campaign, CampaignRecipient, CampaignStatus
from campaigns.tests.factories import CampaignFactory
from tenants.context import tenant_context

URL = "/api/v1/campaigns/"


@pytest.fixture
def staff(tenant, make_member, client_for):
    return client_for(make_member(tenant, Role.SUPERVISOR), tenant)


def _draft_body(template, vip):
    return {
        "name": "Black Friday",
        "connection": template.connection_id,
        "template": template.pk,
        "template_params": {"body": {"1": "{{first_name}}", "2": "{{city}}"}},
        "audience_tags": [vip.pk],
        "send_window": {"mon": [["08:00", "20:00"]]},
        "rate_per_second": 50,
    }


def test_agents_cannot_see_campaigns(tenant, make_member, client_for):
    agent = client_for(make_member(tenant, Role.AGENT), tenant)
    assert agent.get(URL).status_code == 403
    assert agent.post(URL, {}, format="json").status_code == 403


def test_create_edit_schedule_pause_resume_cancel(
    staff, tenant, template, vip, vip_contacts, django_capture_on_commit_callbacks, no_eager
):
    created = staff.post(URL, _draft_body(template, vip), format="json")
    assert created.status_code == 201, created.content
    campaign_id = created.json()["id"]
    assert created.json()["status"] == "draft"
    assert created.json()["audience_tags"] == [vip.pk]

    renamed = staff.patch(f"{URL}{campaign_id}/", {"name": "Black Friday 2026"}, format="json")
    assert renamed.json()["name"] == "Black Friday 2026"

    with django_capture_on_commit_callbacks(execute=True):
        scheduled = staff.post(f"{URL}{campaign_id}/schedule", {}, format="json")
    assert scheduled.status_code == 200, scheduled.content
    assert scheduled.json()["recipients"] == 5
    assert scheduled.json()["campaign"]["status"] == "running"
    # Two dispatch workers were queued (CAMPAIGN_DISPATCH_WORKERS), to the broker.
    from config.redis import get_redis

    assert get_redis().llen("celery") == 2

    assert staff.patch(f"{URL}{campaign_id}/", {"name": "x"}, format="json").json()["code"] == "campaign_not_editable"
    assert staff.post(f"{URL}{campaign_id}/pause").json()["status"] == "paused"
    assert staff.post(f"{URL}{campaign_id}/pause").json()["code"] == "campaign_state"
    assert staff.post(f"{URL}{campaign_id}/resume").json()["status"] == "running"
    assert staff.post(f"{URL}{campaign_id}/cancel").json()["status"] == "cancelled"

    stats = staff.get(f"{URL}{campaign_id}/stats").json()
    assert stats["counts"]["total"] == 5 and stats["counts"]["pending"] == 5
    recipients = staff.get(f"{URL}{campaign_id}/recipients", {"status": "pending"}).json()
    assert recipients["count"] == 5
    assert {r["contact"] for r in recipients["results"]} == {c.pk for c in vip_contacts}


def test_schedule_errors_name_the_fields(staff, tenant, template, vip):
    body = {**_draft_body(template, vip), "template_params": {"body": {"1": "{{apelido}}"}}}
    campaign_id = staff.post(URL, body, format="json").json()["id"]
    response = staff.post(f"{URL}{campaign_id}/schedule", {}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "campaign_invalid"
    assert set(response.json()["fields"]) == {"template_params", "variables"}


def test_another_tenants_connection_is_refused(staff, tenant, other_tenant):
    other = CampaignFactory(tenant=other_tenant)
    response = staff.post(URL, {"name": "X", "connection": other.connection_id}, format="json")
    assert response.status_code == 400
    with tenant_context(tenant):
        assert Campaign.objects.count() == 0


def test_audience_csv_upload(staff, tenant, cloud_connection):
    campaign = CampaignFactory(tenant=tenant, connection=cloud_connection)
    upload = io.BytesIO(b"name,phone\nAna,+55 11 98765-4321\n")
    upload.name = "lista.csv"
    response = staff.post(f"{URL}{campaign.pk}/audience-import", {"file": upload}, format="multipart")
    assert response.status_code == 200, response.content
    assert response.json() == {"rows": 1, "added": 1, "created": 1, "errors": []}


def test_list_query_count_does_not_grow(staff, tenant, cloud_connection, django_assert_max_num_queries):
    for _ in range(3):
        CampaignFactory(tenant=tenant, connection=cloud_connection)
    with django_assert_max_num_queries(8):
        few = staff.get(URL)
    for _ in range(10):
        CampaignFactory(tenant=tenant, connection=cloud_connection)
    with django_assert_max_num_queries(8):
        many = staff.get(URL)
    assert (few.json()["count"], many.json()["count"]) == (3, 13)


def test_admin_actions_and_progress_bar(client, tenant, template, vip, vip_contacts, make_member, no_eager):
    from tenants.selectors import SESSION_TENANT_KEY

    admin_user = make_member(tenant, Role.ADMIN)
    client.force_login(admin_user)
    session = client.session
    session[SESSION_TENANT_KEY] = tenant.pk
    session.save()
    campaign = CampaignFactory(
        tenant=tenant,
        connection=template.connection,
        template=template,
        template_params={"body": {"1": "{{first_name}}", "2": "{{city}}"}},
    )
    campaign.audience_tags.add(vip)
    changelist = reverse("admin:campaigns_campaign_changelist")
    response = client.post(changelist, {"action": "schedule_now", "_selected_action": [campaign.pk]}, follow=True)
    assert response.status_code == 200
    assert Campaign.all_tenants.get(pk=campaign.pk).status == CampaignStatus.RUNNING
    assert CampaignRecipient.all_tenants.filter(campaign=campaign).count() == 5
    client.post(changelist, {"action": "pause", "_selected_action": [campaign.pk]})
    assert Campaign.all_tenants.get(pk=campaign.pk).status == CampaignStatus.PAUSED
    page = client.get(changelist)
    assert '<progress value="0" max="100"' in page.content.decode()
    detail = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    assert detail.status_code == 200
    assert "Recipients" in detail.content.decode()
