"""The cost limits of this server in one place: the settings SEGMENT_MAX_* as the engine's
`CostLimits`, and the request-time check that turns an over-limit job into a 400.

The engine checks the same limits again when it runs (an estimated diameter is known only then);
see docs/deploy.md, "Limits".
"""
from django.conf import settings

from cellposeweb.exceptions import ApplicationError
from inference.engine import CostLimits, check_cost

MAX_ID = 2**63 - 1  # the largest primary key the database holds (a signed 64-bit integer)


def is_id(value) -> bool:
    """Whether ``value`` (from a JSON body) can be a primary key: an int (not a bool) in 1..MAX_ID."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def cost_limits() -> CostLimits:
    """The engine limits configured for this server (read at call time, so tests may change them)."""
    return CostLimits(
        max_upscale=float(settings.SEGMENT_MAX_UPSCALE),
        max_side=int(settings.SEGMENT_MAX_SIDE),
        max_pixels=int(settings.SEGMENT_MAX_PIXELS),
        max_voxels=int(settings.SEGMENT_MAX_VOXELS),
    )


def check_segmentation_cost(*, name: str, spatial_shape, diameter, diam_mean: float, anisotropy=None,
                            do_3d: bool = False) -> None:
    """ApplicationError (400) when a given ``diameter`` would build a network input over the limits.

    spatial_shape : (Ly, Lx) or (Lz, Ly, Lx) of the image. ``diameter`` None (estimated) is checked
    by the engine once the estimate is known.
    """
    if not diameter:
        return
    try:
        check_cost(spatial_shape, diameter=float(diameter), diam_mean=float(diam_mean), anisotropy=anisotropy,
                   do_3d=do_3d, limits=cost_limits())
    except ValueError as exc:
        raise ApplicationError(f"diameter: {name}: {exc}") from None
