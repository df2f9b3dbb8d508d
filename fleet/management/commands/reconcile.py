"""`manage.py reconcile`: recover dispatches of dead workers and repair concurrency counters."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from fleet.recovery import reconcile


class Command(BaseCommand):
    help = (
        "Fail (or, with --requeue, queue again) RUNNING dispatches whose worker stopped "
        "heart-beating, then recompute every tenant's concurrent count from active dispatches."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--requeue",
            action="store_true",
            help="queue orphaned dispatches again instead of failing them",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = reconcile(requeue=options["requeue"])
        self.stdout.write(f"failed: {len(report.failed)}  requeued: {len(report.requeued)}")
        for tenant_id, (was, now) in report.repaired.items():
            self.stdout.write(f"repaired tenant {tenant_id}: concurrentJobs {was} -> {now}")
        for tenant_id in report.changed_meanwhile:
            self.stdout.write(
                f"skipped tenant {tenant_id}: its counter changed meanwhile, run again"
            )
        self.stdout.write(f"repaired: {len(report.repaired)} tenant(s)")
