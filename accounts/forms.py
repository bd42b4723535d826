"""The sign-in form of the login page, with the lockout of accounts.signin."""
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from accounts.signin import SignInLocked, check_not_locked, record_failure, record_success


class ProtectedAuthenticationForm(AuthenticationForm):
    """Refuses a locked-out account or client before checking the password; counts failures."""

    def clean(self):
        username = str(self.data.get("username", ""))[:150]
        try:
            check_not_locked(self.request, username)
        except SignInLocked as exc:
            raise ValidationError(exc.message, code="locked") from None
        try:
            cleaned = super().clean()
        except ValidationError:
            record_failure(self.request, username)
            raise
        record_success(self.request, username)
        return cleaned
