"""The database a test sees is the migrated one, also after a transactional test emptied it."""

from pathlib import Path

import pytest
from django_celery_beat.models import PeriodicTask

from conftest import DATA_MIGRATIONS

ROOT = Path(__file__).resolve().parent.parent
PROJECT_APPS = ("accounts", "tenants", "whatsapp", "tickets", "campaigns", "crm", "flows", "knowledge", "ai")


def test_every_migration_that_writes_rows_is_restored_after_a_flush():
    writing = {
        f"{app}.migrations.{path.stem}"
        for app in PROJECT_APPS
        for path in (ROOT / app / "migrations").glob("0*.py")
        if "apps.get_model(" in path.read_text()
    }
    assert writing == set(DATA_MIGRATIONS)


@pytest.mark.django_db(transaction=True)
def test_a_transactional_test_starts_with_the_migrated_rows():
    """Runs after other transactional tests of this worker have flushed the tables (or first)."""
    assert PeriodicTask.objects.filter(task="flows.tick").exists()
    PeriodicTask.objects.all().delete()  # the flush after this test must bring them back
