"""API authentication: exchange a username and password for a token (``Authorization: Token <key>``)."""
from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from cellposeweb.exceptions import ApplicationError
from cellposeweb.throttles import _SettingsRateThrottle


class SignInRateThrottle(_SettingsRateThrottle, AnonRateThrottle):
    """Per client address, authenticated or not: slows password guessing."""

    scope = "auth"

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
        user = authenticate(request, **serializer.validated_data)
        if user is None:
            raise ApplicationError("Unable to sign in with that username and password.")
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})
