from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Sign-in protection, password rules and API tokens (expiry, rotation, revocation)."""

    name = "accounts"

    def ready(self):
        from accounts import tokens

        tokens.connect_signals()
