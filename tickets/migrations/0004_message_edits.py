from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0003_queue_round_robin"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="edited_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="edited at"),
        ),
        migrations.AddField(
            model_name="message",
            name="deleted_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="deleted at"),
        ),
    ]
