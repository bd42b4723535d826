"""Errors raised by services, and the API exception handler that renders every error the same way.

Every API error body is ``{"detail": "<a sentence a person can act on>"}`` with the matching status;
validation errors also carry the per-field messages under ``"errors"``. A backing service that is
down (database, Redis, the S3 store) answers 503 with ``Retry-After``, never 500: the request may
simply be repeated once the service is back, and nothing needs restarting.
"""
import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.serializers import as_serializer_error
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback


class ApplicationError(Exception):
    """A request that cannot be carried out, with the message to show the user.

    ``fields``: more keys of the error body, for a client that can act on them (say, a list of
    choices to offer); ``detail`` always says it all in words.
    """

    status_code = 400

    def __init__(self, message: str, *, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        self.fields = dict(fields or {})


class NotFoundError(ApplicationError):
    status_code = 404


class ConflictError(ApplicationError):
    """The request is valid but the resource is not in a state that allows it (HTTP 409)."""

    status_code = 409


class PayloadTooLargeError(ApplicationError):
    status_code = 413


class TooManyRequestsError(ApplicationError):
    """Back-pressure: the request is fine but must wait (HTTP 429 with ``Retry-After``)."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = int(retry_after)


SERVICE_UNAVAILABLE = "A service this server depends on ({service}) is unavailable; try again in a few seconds."
RETRY_AFTER_UNAVAILABLE_S = 5

logger = logging.getLogger(__name__)


def unavailable_service(exc: BaseException) -> str | None:
    """The name of the backing service whose outage ``exc`` reports, or None for any other error."""
    from django.db import DatabaseError, InterfaceError, OperationalError

    if isinstance(exc, (OperationalError, InterfaceError)):
        return "database"
    if isinstance(exc, DatabaseError) and "connection" in str(exc).lower():
        return "database"
    try:
        import redis.exceptions as redis_errors

        if isinstance(exc, (redis_errors.ConnectionError, redis_errors.TimeoutError, redis_errors.BusyLoadingError)):
            return "redis"
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    try:
        from kombu.exceptions import OperationalError as BrokerError

        if isinstance(exc, BrokerError):
            return "message broker"
    except ImportError:  # pragma: no cover
        pass
    try:
        from botocore.exceptions import ConnectionError as S3ConnectionError

        if isinstance(exc, S3ConnectionError):
            return "file storage"
    except ImportError:  # pragma: no cover
        pass
    return None


def service_unavailable_body(service: str) -> dict:
    return {"detail": SERVICE_UNAVAILABLE.format(service=service)}


def _first_message(errors, path=""):
    """The first message in a (nested) DRF error structure, prefixed by where it applies:
    ``"channels[0]: Ensure this value is less than or equal to 3."``."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            if key in ("non_field_errors", "__all__"):
                where = path
            elif isinstance(key, int) or str(key).isdigit():
                where = f"{path}[{key}]"
            else:
                where = f"{path}.{key}" if path else str(key)
            message = _first_message(value, where)
            if message:
                return message
        return ""
    if isinstance(errors, (list, tuple)):
        for item in errors:
            message = _first_message(item, path)
            if message:
                return message
        return ""
    return f"{path}: {errors}" if path else str(errors)


def api_exception_handler(exc, context):
    """DRF's handler, plus service errors, Django errors and one flat ``detail`` message."""
    if isinstance(exc, ApplicationError):
        set_rollback()
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequestsError) else None
        return Response({**exc.fields, "detail": exc.message}, status=exc.status_code, headers=headers)
    service = unavailable_service(exc)
    if service is not None:
        logger.warning("%s unavailable: %s", service, exc, exc_info=True)
        try:
            set_rollback()
        except Exception:  # the broken connection cannot even be asked about its transaction
            pass
        return Response(
            service_unavailable_body(service), status=503, headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE_S)}
        )
    if isinstance(exc, DjangoValidationError):
        exc = drf_exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = drf_exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, drf_exceptions.ValidationError):
        errors = response.data
        response.data = {"detail": _first_message(errors) or "The request is invalid.", "errors": errors}
    return response
