"""Who may do what in the community loop (built on cellposeweb.access, decided here only).

* Any signed-in user contributes and sees their own contributions.
* Curators (the ``curator`` group) and administrators see every contribution and review them.
* Administrators mark test images, train, release, roll back, export and import.
* Everyone, signed in or not, sees the public models page (versions, metrics, credits).
"""
from rest_framework.permissions import BasePermission

from cellposeweb.access import is_admin, is_curator


def can_review(user) -> bool:
    return is_admin(user) or (is_curator(user) and user.is_active)


def can_manage(user) -> bool:
    """Train, release, roll back, curate the test set, export and import."""
    return is_admin(user)


class IsReviewer(BasePermission):
    message = "Only curators can review contributions."

    def has_permission(self, request, view):
        return can_review(request.user)


class IsCommunityAdmin(BasePermission):
    message = "Only administrators can train, release or roll back community models."

    def has_permission(self, request, view):
        return can_manage(request.user)
