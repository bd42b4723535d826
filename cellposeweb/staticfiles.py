"""Static files under content-hashed names, so that a deploy never mixes old and new ES modules.

``collectstatic`` (``make run``, the Docker image, docs/deploy.md) copies every static file to
STATIC_ROOT twice: as it is and as ``name.<hash of its content>.ext``, and writes the manifest
(``staticfiles.json``) that ``{% static %}`` reads. The frontend's modules import each other by
relative URL (``import { X } from "./x.js";``); this storage rewrites those imports to the hashed
names too, so a page's entry module pins the exact version of every module it reaches. A hash covers
the rewritten text, so a change to one module gives it and every module that imports it, directly
or not, a new name, and a browser holding old names keeps loading old files (they stay in
STATIC_ROOT) instead of pairing them with new ones.

Django rewrites only ``import``/``export ... from "<relative url>";`` statements that end with a
semicolon (ESLint's ``semi`` rule in frontend/eslint.config.js keeps them so), and the modules
must not import each other in a cycle (the hashes would never settle: collectstatic fails).

When this process serves static files itself (``SERVE_STATIC``, the embedded mode),
``StaticRootHandler`` serves what collectstatic wrote: hashed names with a year-long immutable
``Cache-Control``, other names revalidated on every use. With DEBUG on, pages link unhashed names
and files come straight from the source folders (edits show without collectstatic).
"""
import posixpath

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.contrib.staticfiles.storage import ManifestStaticFilesStorage, staticfiles_storage
from django.views import static

__all__ = ["HashedModulesStorage", "StaticRootHandler", "IMMUTABLE", "REVALIDATE"]

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


class HashedModulesStorage(ManifestStaticFilesStorage):
    """The manifest storage, with ES module imports and exports rewritten to hashed names."""

    support_js_module_import_aggregation = True
    # Hashes settle one import level per pass at worst; the deepest import chain is about 8 modules.
    max_post_process_passes = 20


class StaticRootHandler(ASGIStaticFilesHandler):
    """Serves STATIC_ROOT (what collectstatic wrote) under STATIC_URL, with cache headers."""

    def serve(self, request):
        if settings.DEBUG:
            response = super().serve(request)  # the finders: source folders, unhashed names
            hashed = False
        else:
            name = posixpath.normpath(self.file_path(request.path)).lstrip("/")
            try:
                response = static.serve(request, name, document_root=settings.STATIC_ROOT)
            except (SuspiciousFileOperation, ValueError, OSError):  # "../", NUL bytes, over-long names
                raise Http404("No such static file.") from None
            hashed = name in _hashed_names()
        response.headers["Cache-Control"] = IMMUTABLE if hashed else REVALIDATE
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def _hashed_names() -> set:
    """The hashed names in the manifest the running process loaded (staticfiles.json)."""
    return set(getattr(staticfiles_storage, "hashed_files", {}).values())
