"""How a running segmentation stops early: cancellation, and the reason a person reads when a job,
an image or a block fails. Shared by the whole-image path (inference.job_run) and the block-wise
path (inference.tiled_jobs)."""
from cellposeweb.exceptions import ApplicationError

__all__ = ["JobCancelled", "MAX_ERROR_LENGTH", "describe"]

MAX_ERROR_LENGTH = 4000


class JobCancelled(Exception):
    """Raised inside a running job (from the progress callback) once its status is no longer running."""


def describe(exc: BaseException) -> str:
    """The reason to show for ``exc``: its message for errors about the input, else its type."""
    if isinstance(exc, MemoryError):
        return "ran out of memory; try a smaller image or a smaller tile overlap"
    if isinstance(exc, (ValueError, ApplicationError, FileNotFoundError)):
        return str(getattr(exc, "message", None) or exc)
    return f"internal error ({type(exc).__name__}: {exc})"
