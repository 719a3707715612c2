from django.core.management.base import CommandError

from accounts.models import Role
from accounts.services import invite_accept_url, invite_create
from config.errors import ProsaError
from tenants.management.base import TenantCommand


class Command(TenantCommand):
    help = "Invites a person to a tenant by e-mail and prints the one-time acceptance link."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--email", required=True)
        parser.add_argument("--role", choices=Role.values, default=Role.AGENT)

    def handle_tenant(self, tenant, *args, **options):
        try:
            invite, token = invite_create(tenant=tenant, email=options["email"], role=options["role"], invited_by=None)
        except ProsaError as exc:
            raise CommandError(f"{exc.code}: {exc.detail}") from exc
        self.stdout.write(f"Invited {invite.email} as {invite.get_role_display()} to {tenant.name}.")
        self.stdout.write(f"Acceptance link (shown once): {invite_accept_url(token)}")
