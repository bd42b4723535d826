"""API tokens that expire, rotate when the password changes, and can be revoked.

Tokens are DRF's (``Authorization: Token <key>``, one per user). A token older than TOKEN_TTL_S is
refused (401, "expired") and replaced by the next sign-in; changing a user's password deletes
their token; ``DELETE /api/auth/token/`` and the page ``/accounts/tokens/`` revoke it.
"""
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models.signals import pre_save
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed


def token_expires_at(token: Token):
    return token.created + timedelta(seconds=settings.TOKEN_TTL_S)


def token_is_expired(token: Token) -> bool:
    return bool(settings.TOKEN_TTL_S) and timezone.now() >= token_expires_at(token)


def token_for(user) -> Token:
    """The user's token, a new one if they had none or theirs expired."""
    token = Token.objects.filter(user=user).first()
    if token is not None and token_is_expired(token):
        token.delete()
        token = None
    return token or Token.objects.create(user=user)


def token_revoke(user) -> int:
    """Delete the user's tokens; the number deleted."""
    return Token.objects.filter(user=user).delete()[0]


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if token_is_expired(token):
            raise AuthenticationFailed("This token has expired; ask for a new one (POST /api/auth/token/).")
        return user, token


def _revoke_on_password_change(sender, instance, raw=False, **kwargs):
    if raw or instance.pk is None:
        return
    old = sender.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    if old is not None and old != instance.password:
        token_revoke(instance)


def connect_signals() -> None:
    pre_save.connect(_revoke_on_password_change, sender=get_user_model(), dispatch_uid="accounts.token_rotation")
