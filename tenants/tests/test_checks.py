"""System check tenants.E001: a model holding tenant data must inherit TenantOwned.

Bad models are defined in isolated app registries (django.test.utils.isolate_apps), so the real
registry stays clean; the check runs over them exactly as `manage.py check` would run it.
"""

from django.core import checks as django_checks
from django.core.management import call_command
from django.db import models
from django.test.utils import isolate_apps

from accounts.models import Invite, Membership
from tenants import checks
from tenants.models import TenantOwned


def _e001(errors):
    return [(error.id, error.obj, error.msg) for error in errors]


def test_the_check_is_registered():
    assert checks.tenant_models_inherit_base in django_checks.registry.registry.get_checks()


def test_the_project_passes():
    assert checks.tenant_models_inherit_base() == []
    call_command("check", "--fail-level", "ERROR")  # raises SystemCheckError on any error


def test_every_extra_tenant_model_exists_and_is_tenant_owned():
    from django.apps import apps

    for label in checks.EXTRA_TENANT_MODELS:
        assert issubclass(apps.get_model(label), TenantOwned), label
    assert {Membership._meta.label, Invite._meta.label} <= checks.EXTRA_TENANT_MODELS


def test_every_tenant_app_is_installed():
    from django.apps import apps

    for app_label in checks.TENANT_APPS:
        assert apps.is_installed(app_label), app_label


def test_a_model_in_a_tenant_app_without_the_base_fails():
    with isolate_apps("tickets") as isolated:

        class Ticket(models.Model):  # noqa: DJ008 (never used as data)
            subject = models.CharField(max_length=100)

            class Meta:
                app_label = "tickets"

        class Queue(TenantOwned):
            name = models.CharField(max_length=100)

            class Meta:
                app_label = "tickets"

        errors = checks.tenant_models_inherit_base(app_configs=[isolated.get_app_config("tickets")])
        assert _e001(errors) == [
            (
                "tenants.E001",
                Ticket,
                "tickets.Ticket holds tenant data but does not inherit tenants.models.TenantOwned.",
            )
        ]
        assert errors[0].level == django_checks.ERROR
        assert errors[0].hint == "Inherit TenantOwned so that its default manager fails closed."


def test_the_check_scans_the_whole_registry_by_default(monkeypatch):
    with isolate_apps("crm") as isolated:

        class Deal(models.Model):  # noqa: DJ008
            class Meta:
                app_label = "crm"

        monkeypatch.setattr(checks, "apps", isolated)
        errors = checks.tenant_models_inherit_base()
        assert _e001(errors) == [
            ("tenants.E001", Deal, "crm.Deal holds tenant data but does not inherit tenants.models.TenantOwned.")
        ]


def test_a_listed_model_outside_the_tenant_apps_is_checked_too():
    with isolate_apps("accounts") as isolated:

        class Membership(models.Model):  # noqa: DJ008 — a stand-in, never migrated
            class Meta:
                app_label = "accounts"

        class Preference(models.Model):  # noqa: DJ008 — not listed: platform data, not checked
            class Meta:
                app_label = "accounts"

        errors = checks.tenant_models_inherit_base(app_configs=[isolated.get_app_config("accounts")])
        assert _e001(errors) == [
            (
                "tenants.E001",
                Membership,
                "accounts.Membership holds tenant data but does not inherit tenants.models.TenantOwned.",
            )
        ]


def test_a_tenant_owned_model_passes():
    with isolate_apps("flows") as isolated:

        class Flow(TenantOwned):
            name = models.CharField(max_length=100)

            class Meta:
                app_label = "flows"

        class FlowProxy(Flow):
            class Meta:
                proxy = True
                app_label = "flows"

        assert checks.tenant_models_inherit_base(app_configs=[isolated.get_app_config("flows")]) == []
