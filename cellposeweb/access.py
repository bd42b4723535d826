"""Who may see and change what: the one place the access policy is written down.

* Images, annotations and jobs are private to their owner.
* Administrators (``is_staff``) may see and act on everything, as they can in the Django admin.
* Curators (members of the ``curator`` group) have, for now, no extra rights over other people's
  private data; the group exists so curation of contributed images can be granted to it.
* Everyone else, including anonymous users (rejected earlier with 401), sees nothing of others:
  selectors built on :func:`visible` make other people's rows indistinguishable from missing ones.
"""
from django.db.models import QuerySet

CURATOR_GROUP = "curator"


def is_admin(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def is_curator(user) -> bool:
    return bool(user and user.is_authenticated and user.groups.filter(name=CURATOR_GROUP).exists())


def visible(queryset: QuerySet, *, user, owner_field: str = "owner") -> QuerySet:
    """The rows of ``queryset`` that ``user`` may see and act on."""
    if not (user and user.is_authenticated and user.is_active):
        return queryset.none()
    if is_admin(user):
        return queryset
    return queryset.filter(**{owner_field: user})
