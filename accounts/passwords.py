"""Password rules beyond Django's own validators (settings.AUTH_PASSWORD_VALIDATORS)."""
from django.core.exceptions import ValidationError


class VariedCharactersValidator:
    """Refuse passwords of whitespace only, or of fewer than ``min_distinct`` different characters
    (eight spaces, "aaaaaaaaaa", "abababab")."""

    def __init__(self, min_distinct: int = 5):
        self.min_distinct = min_distinct

    def validate(self, password, user=None):
        if not password.strip():
            raise ValidationError("This password is only spaces.", code="password_blank")
        if len(set(password)) < self.min_distinct:
            raise ValidationError(
                f"This password uses fewer than {self.min_distinct} different characters.", code="password_repetitive"
            )

    def get_help_text(self):
        return f"Your password must use at least {self.min_distinct} different characters."
