"""Prepare a fresh installation (safe to run on every start):

* register ``inference/engine/weights/default.pt`` when its file is new, as the current model when no
  model is current or the current one is an earlier version of the shipped default;
* create an administrator when there is none: CELLPOSEWEB_ADMIN_USER / CELLPOSEWEB_ADMIN_PASSWORD,
  or "admin" with a generated password printed once.
"""
import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotations.files import file_sha256
from cellposeweb.exceptions import ApplicationError
from inference.engine import WEIGHTS_DIR
from inference.models import ModelVersion
from inference.model_versions import model_version_create, model_version_make_current

DEFAULT_WEIGHTS = WEIGHTS_DIR / "default.pt"


class Command(BaseCommand):
    help = "Register the default model and create an administrator if missing (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="Model file to register.")

    def handle(self, *args, weights, **options):
        self._model(weights)
        self._admin()

    def _model(self, weights):
        current = ModelVersion.objects.filter(is_current=True).first()
        if not os.path.isfile(weights):
            if current is None:
                self.stdout.write(self.style.WARNING(
                    f"No model file at {weights}: segmentation is unavailable until one is registered."))
            return
        # A current model that is not an earlier version of the shipped default (a community
        # release, an import) stays current; new shipped weights are registered beside it.
        replaceable = current is None or current.name == "default"
        existing = ModelVersion.objects.filter(sha256=file_sha256(weights)).order_by("-version").first()
        if existing is not None:
            if current is None or (replaceable and existing.name == "default" and existing.pk != current.pk
                                   and existing.version > current.version):
                model_version_make_current(model_version=existing)
                self.stdout.write(f"Made {existing} the current model.")
            else:
                self.stdout.write("A current model is registered.")
            return
        try:
            model_version = model_version_create(
                name="default", file_path=weights, make_current=replaceable,
                description="The embedded default model (docs/models.md).",
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        if replaceable:
            self.stdout.write(self.style.SUCCESS(f"Registered {model_version} as the current model."))
        else:
            self.stdout.write(f"Registered {model_version}; {current} stays the current model.")

    def _admin(self):
        User = get_user_model()
        if User.objects.filter(is_staff=True, is_superuser=True).exists():
            self.stdout.write("An administrator exists.")
            return
        username = os.environ.get("CELLPOSEWEB_ADMIN_USER") or "admin"
        password = os.environ.get("CELLPOSEWEB_ADMIN_PASSWORD")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        if User.objects.filter(username=username).exists():
            raise CommandError(
                f"A user named {username!r} exists but is not an administrator; set CELLPOSEWEB_ADMIN_USER."
            )
        User.objects.create_superuser(username=username, email="", password=password)
        if generated:
            self.stdout.write(self.style.SUCCESS(f"Created administrator {username!r} with password: {password}"))
            self.stdout.write("This password is shown only once; change it after signing in.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Created administrator {username!r}."))
