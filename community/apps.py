from django.apps import AppConfig


class CommunityConfig(AppConfig):
    name = "community"
    verbose_name = "Community model loop"
    default_auto_field = "django.db.models.BigAutoField"
