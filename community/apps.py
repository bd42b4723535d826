from django.apps import AppConfig


class CommunityConfig(AppConfig):
    name = "community"
    verbose_name = "Community model loop"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        """Training runs join the background-work lifecycle (cellposeweb.work)."""
        from cellposeweb import work
        from community.training import TRAINING, training_run_execute

        work.register(TRAINING, work=lambda pk, worker: training_run_execute(run_id=pk, worker=worker))
