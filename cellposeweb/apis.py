"""API authentication: exchange a username and password for a token (``Authorization: Token <key>``)."""
from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from accounts.signin import SignInLocked, check_not_locked, client_address, record_failure, record_success
from accounts.tokens import token_for, token_revoke
from cellposeweb.exceptions import ApplicationError, TooManyRequestsError
from cellposeweb.throttles import _SettingsRateThrottle


class SignInRateThrottle(_SettingsRateThrottle, AnonRateThrottle):
    """Per client address, authenticated or not: slows password guessing."""

    scope = "auth"

    def get_ident(self, request):
        return client_address(request)  # trusting NUM_PROXIES proxies, not any X-Forwarded-For

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class TokenCreateApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [SignInRateThrottle]

    class TokenCreateInputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=4096, style={"input_type": "password"}, trim_whitespace=False)

    @extend_schema(
        request=TokenCreateInputSerializer,
        responses=inline_serializer("Token", {"token": serializers.CharField()}),
    )
    def post(self, request):
        serializer = self.TokenCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        username = serializer.validated_data["username"]
        try:
            check_not_locked(request, username)
        except SignInLocked as exc:
            raise TooManyRequestsError(exc.message, retry_after=exc.retry_after) from None
        user = authenticate(request, **serializer.validated_data)
        if user is None:
            record_failure(request, username)
            raise ApplicationError("Unable to sign in with that username and password.")
        record_success(request, username)
        return Response({"token": token_for(user).key})


class TokenRevokeApi(APIView):
    """Revoke the signed-in user's API token (the one used for this request, or the session user's)."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        token_revoke(request.user)
        return Response(status=204)
