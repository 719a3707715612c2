"""`python manage.py seed_load --tenants 5 --tickets 100000 --messages 1000000 --contacts 50000`

Fills the database with realistic data for the benchmarks (bench/seeding.py says what and how).
Runs once per database: a second run is refused.
"""

from django.core.management.base import BaseCommand, CommandError

from bench.seeding import PASSWORD, SeedRefused, seed_load


class Command(BaseCommand):
    help = "Seed realistic load-test data (tenants load-1…N; the first holds 60%). Refuses to run twice."

    def add_arguments(self, parser):
        parser.add_argument("--tenants", type=int, default=5)
        parser.add_argument("--tickets", type=int, default=100_000)
        parser.add_argument("--messages", type=int, default=1_000_000)
        parser.add_argument("--contacts", type=int, default=50_000)
        parser.add_argument("--seed", type=int, default=6, help="Random seed (the same seed gives the same data).")

    def handle(self, *args, tenants, tickets, messages, contacts, seed, **options):
        try:
            summary = seed_load(
                tenants=tenants,
                tickets=tickets,
                messages=messages,
                contacts=contacts,
                seed=seed,
                log=lambda line: self.stdout.write(line),
            )
        except (SeedRefused, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {summary.tenants} tenants, {summary.users} users, {summary.contacts} contacts, "
                f"{summary.tickets} tickets ({summary.active_tickets} pending/open), {summary.messages} messages, "
                f"{summary.ticket_events} ticket events in {summary.seconds:.0f} s."
            )
        )
        self.stdout.write(f"Log in as admin@load-1.bench.prosa.local, supervisor1@…, agent1@… (password {PASSWORD!r}).")
