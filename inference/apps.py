from django.apps import AppConfig


class InferenceConfig(AppConfig):
    name = "inference"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        """Segmentation jobs, and the blocks of tiled images, join the background-work lifecycle;
        the embedded pools are given their work functions here. Worker threads start with the first request a server handles (never on an
        import or in a management command); a Celery worker recovers its own work when it is ready."""
        from celery.signals import worker_ready
        from django.core.signals import request_started

        from cellposeweb import work
        from inference.recovery import SEGMENTATION, SEGMENTATION_BLOCK

        def run_next(pk: int, worker: str):
            from inference.job_run import segmentation_job_run_next

            return segmentation_job_run_next(worker=worker)

        def run_block(pk: int, worker: str):
            from inference.tiled_jobs import job_block_run

            return job_block_run(block_id=pk, worker=worker)

        work.register(SEGMENTATION, work=run_next)
        work.register(SEGMENTATION_BLOCK, work=run_block)
        request_started.connect(work.start_pools, dispatch_uid="cellposeweb.work.start_pools")
        worker_ready.connect(work.recover_on_worker_start, dispatch_uid="cellposeweb.work.recover_on_worker_start")
