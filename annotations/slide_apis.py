"""The tile API of an image: its pyramid and 8-bit tiles (annotations.tiles). Same access rules
as ``GET /api/images/<id>/`` (annotations.selectors.image_get): another user's image is a 404.

Tiles never change once made (an image's pixels and display levels are fixed at ingest), so
they carry an ``ETag`` (image sha256, level, plane, column, row) and may be cached for a day;
a request naming that ETag in ``If-None-Match`` is answered 304 without reading any pixels.
"""
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import display, tiles
from annotations.ingest import image_display_levels
from annotations.selectors import image_get
from annotations.tiled_masks import label_tile
from cellposeweb.exceptions import NotFoundError

TILE_CACHE = "private, max-age=86400, immutable"


def tile_etag(image, *parts) -> str:
    return '"' + "-".join([image.sha256[:24], *(str(p) for p in parts)]) + '"'


def not_modified(request, etag: str) -> bool:
    """Whether the client's ``If-None-Match`` names ``etag`` (weak or strong, or ``*``)."""
    given = request.headers.get("If-None-Match", "")
    tags = {t.strip().removeprefix("W/") for t in given.split(",") if t.strip()}
    return etag in tags or "*" in tags


def cached_response(response: HttpResponse, etag: str) -> HttpResponse:
    response["ETag"] = etag
    response["Cache-Control"] = TILE_CACHE
    return response


class ImagePyramidApi(APIView):
    """What a tile viewer needs: size, channels, dtype, tile size, the levels (each 2x smaller)
    and the keys of stored label arrays. ``tiled`` is false for a small image (one level)."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, image_id):
        return Response(tiles.pyramid_info(image_get(user=request.user, image_id=image_id)))


class ImageTileApi(APIView):
    """One tile as an 8-bit PNG (grey, or RGB of the first three channels), at most 512 x 512,
    levelled with the image's display levels; 404 outside the grid."""

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY, 304: None})
    def get(self, request, image_id, level, z, col, row):
        image = image_get(user=request.user, image_id=image_id)
        try:
            tiles.grid(image, level)
        except tiles.TileOutside as exc:
            raise NotFoundError(f"{image.name}: {exc}.") from None
        etag = tile_etag(image, level, z, col, row)
        if not_modified(request, etag):
            return cached_response(HttpResponse(status=304), etag)
        image_display_levels(image=image)
        try:
            picture = tiles.render_tile(image, level=level, z=z, col=col, row=row)
        except tiles.TileOutside as exc:
            raise NotFoundError(f"{image.name}: {exc}.") from None
        return cached_response(HttpResponse(display.png_bytes(picture), content_type="image/png"), etag)


class ImageLabelTileApi(APIView):
    """``GET /api/images/<id>/labels/<key>/tiles/<level>/<z>/<col>/<row>.bin``: one tile of a
    labels array (a tiled version's masks, annotations.tiled_masks) as zlib-compressed
    little-endian int32 (``application/octet-stream``), its size in ``X-Tile-Width`` /
    ``X-Tile-Height``; 404 outside the grid or for unknown labels. A labels array never changes
    once its version is saved, so it is cached like the image tiles."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 304: None})
    def get(self, request, image_id, key, level, z, col, row):
        image = image_get(user=request.user, image_id=image_id)
        etag = tile_etag(image, "labels", key, level, z, col, row)
        if not_modified(request, etag):
            return cached_response(HttpResponse(status=304), etag)
        data, width, height = label_tile(image, key=key, level=level, z=z, col=col, row=row)
        response = HttpResponse(data, content_type="application/octet-stream")
        response["X-Tile-Width"], response["X-Tile-Height"] = str(width), str(height)
        return cached_response(response, etag)
