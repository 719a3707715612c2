from django.core.management.base import BaseCommand

from tenants.demo import demo_seed


class Command(BaseCommand):
    help = "Creates the demo tenant, its users and its WhatsApp demo connection once, and prints the logins."

    def add_arguments(self, parser):
        parser.add_argument("--graph-url", default="http://127.0.0.1:8790", help="Where the fake Graph API listens.")

    def handle(self, *args, **options):
        result = demo_seed(graph_url=options["graph_url"])
        status = "created" if result.created else "already there"
        self.stdout.write(f"\nDemo tenant '{result.tenant.name}' ({result.tenant.slug}) {status}. Logins:")
        for email, role in result.logins:
            self.stdout.write(f"  {role:<11} {email:<28} password: {result.password}")
        self.stdout.write(
            "\nA customer writes (in another terminal, while `make run` runs):\n"
            '  .venv/bin/python manage.py simulate_inbound --tenant demo --from +5511999990000 --text "Olá!"\n'
        )
