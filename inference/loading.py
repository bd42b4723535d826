"""Loaded models, kept per ModelVersion id in this process (loading takes seconds; a job reuses it)."""
import threading
from collections import OrderedDict

from django.conf import settings

from annotations.files import local_path
from inference.engine import CellposeModel

_lock = threading.Lock()
_models: "OrderedDict[int, CellposeModel]" = OrderedDict()


def model_load(model_version) -> CellposeModel:
    """The engine model of ``model_version``, loaded once and then reused (least recently used
    models beyond MODEL_CACHE_SIZE are dropped)."""
    with _lock:
        model = _models.get(model_version.pk)
        if model is not None:
            _models.move_to_end(model_version.pk)
            return model
    with local_path(model_version.file, suffix=".pt") as path:
        model = CellposeModel.from_file(path)
    with _lock:
        _models[model_version.pk] = model
        while len(_models) > max(1, settings.MODEL_CACHE_SIZE):
            _models.popitem(last=False)
    return model


def model_cache_clear() -> None:
    with _lock:
        _models.clear()
