"""Errors raised by services, and the API exception handler that renders every error the same way.

Every API error body is ``{"detail": "<a sentence a person can act on>"}`` with the matching status;
validation errors also carry the per-field messages under ``"errors"``.
"""
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.serializers import as_serializer_error
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback


class ApplicationError(Exception):
    """A request that cannot be carried out, with the message to show the user."""

    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFoundError(ApplicationError):
    status_code = 404


class ConflictError(ApplicationError):
    """The request is valid but the resource is not in a state that allows it (HTTP 409)."""

    status_code = 409


class PayloadTooLargeError(ApplicationError):
    status_code = 413


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
        return Response({"detail": exc.message}, status=exc.status_code)
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
