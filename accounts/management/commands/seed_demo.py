from django.core.management.base import BaseCommand

from accounts.services import demo_seed


class Command(BaseCommand):
    help = "Creates the demo tenant and its users once, and prints their logins."

    def handle(self, *args, **options):
        result = demo_seed()
        status = "created" if result.created else "already there"
        self.stdout.write(f"\nDemo tenant '{result.tenant.name}' ({result.tenant.slug}) {status}. Logins:")
        for email, role in result.logins:
            self.stdout.write(f"  {role:<11} {email:<28} password: {result.password}")
        self.stdout.write("")
