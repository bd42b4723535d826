from django.apps import AppConfig


class AnnotationsConfig(AppConfig):
    name = "annotations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        """The ingest of tiled images joins the background-work lifecycle (cellposeweb.work); its
        embedded pool is given its work function here (the pools start with the first request)."""
        from cellposeweb import work
        from annotations.upload_ingest import INGEST

        def run_ingest(pk, worker: str):
            from annotations.upload_ingest import upload_ingest_run

            return upload_ingest_run(upload_id=pk, worker=worker)

        work.register(INGEST, work=run_ingest)
