"""Gives every existing tenant its default pipeline (new tenants get one from tenants.services) and
registers the beat jobs of the agenda (django_celery_beat rows). Idempotent."""

from django.db import migrations

DEFAULT_STAGES = {
    "pt-br": ["Novo", "Qualificado", "Proposta", "Negociação"],
    "en": ["New", "Qualified", "Proposal", "Negotiation"],
}
PIPELINE_NAMES = {"pt-br": "Funil de vendas", "en": "Sales pipeline"}
COLORS = ["#64748b", "#0ea5e9", "#f59e0b", "#8b5cf6"]

SCHEDULES = [
    ("Remind assignees of their tasks", "crm.send_task_reminders", 1, "minutes"),
    ("Remind contacts of their meetings", "crm.send_meeting_reminders", 1, "minutes"),
]


def create(apps, schema_editor):
    Tenant = apps.get_model("tenants", "Tenant")
    Pipeline = apps.get_model("crm", "Pipeline")
    Stage = apps.get_model("crm", "Stage")
    for tenant in Tenant.objects.all():
        if Pipeline.objects.filter(tenant=tenant, is_default=True).exists():
            continue
        language = tenant.language if tenant.language in DEFAULT_STAGES else "en"
        pipeline = Pipeline.objects.create(tenant=tenant, name=PIPELINE_NAMES[language], is_default=True)
        for order, (name, color) in enumerate(zip(DEFAULT_STAGES[language], COLORS, strict=True)):
            Stage.objects.create(tenant=tenant, pipeline=pipeline, name=name, order=order, color=color)

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, every, period in SCHEDULES:
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
        PeriodicTask.objects.update_or_create(name=name, defaults={"task": task, "interval": interval, "enabled": True})


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=[task for _, task, _, _ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0003_sales_agenda_escalations"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
