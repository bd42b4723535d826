"""Pages: sign in (with lockout) and the list of the user's API tokens (create, revoke)."""
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from rest_framework.authtoken.models import Token

from accounts.forms import ProtectedAuthenticationForm
from accounts.tokens import token_expires_at, token_for, token_is_expired, token_revoke


class LoginView(auth_views.LoginView):
    form_class = ProtectedAuthenticationForm


@login_required
@require_http_methods(["GET", "POST"])
def tokens_page(request):
    """``GET``: the user's API tokens (the last characters, created, expires). ``POST`` with
    ``action=create`` makes one (shown once, in full) and ``action=revoke`` deletes them."""
    new_key = None
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "revoke":
            n = token_revoke(request.user)
            messages.info(request, f"Revoked {n} token{'s' if n != 1 else ''}.")
            return redirect("account-tokens")
        if action == "create":
            token_revoke(request.user)  # one token per user: a new one replaces the old
            new_key = token_for(request.user).key
    tokens = [
        {"ending": t.key[-4:], "created": t.created, "expires": token_expires_at(t), "expired": token_is_expired(t)}
        for t in Token.objects.filter(user=request.user)
    ]
    return render(request, "accounts/tokens.html", {"tokens": tokens, "new_key": new_key})
