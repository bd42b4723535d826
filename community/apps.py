from django.apps import AppConfig


class CommunityConfig(AppConfig):
    name = "community"
    verbose_name = "Community model loop"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        """Training runs and the automatic checks of contributions join the background-work lifecycle
        (cellposeweb.work); the release rule
        decides who may segment with which model version (inference.model_versions)."""
        from cellposeweb import work
        from community.rules import check_model_version_usable
        from community.scoring import SCORING, contribution_score
        from community.training import TRAINING, training_run_execute
        from inference.model_versions import model_use_check_register

        model_use_check_register(check_model_version_usable)

        work.register(TRAINING, work=lambda pk, worker: training_run_execute(run_id=pk, worker=worker))
        work.register(SCORING, work=lambda pk, worker: contribution_score(scoring_id=pk, worker=worker))
