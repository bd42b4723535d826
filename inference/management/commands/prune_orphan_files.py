"""List, and with --delete remove, stored files no database row refers to (cellposeweb.orphans)."""
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from annotations.files import delete_stored
from cellposeweb.orphans import orphan_files


class Command(BaseCommand):
    help = ("List stored files that no database row refers to (left by killed workers or uploads), "
            "older than --older-than-hours; --delete removes them.")

    def add_arguments(self, parser):
        parser.add_argument("--older-than-hours", type=float, default=24.0,
                            help="only files last modified longer ago than this (default 24)")
        parser.add_argument("--delete", action="store_true", help="delete them (default: only list)")

    def handle(self, *args, older_than_hours, delete, **options):
        if not older_than_hours >= 0:
            raise CommandError(f"--older-than-hours must be 0 or more, got {older_than_hours}")
        found = orphan_files(older_than=timedelta(hours=older_than_hours))
        for name, size in found:
            if delete:
                delete_stored([name])
            self.stdout.write(f"{'deleted' if delete else 'orphan'} {name} ({size} bytes)")
        total = sum(size for _, size in found)
        verb = "deleted" if delete else "found (run with --delete to remove them)"
        self.stdout.write(f"{len(found)} orphan files, {total / 1e6:.1f} MB, {verb}")
