# The engine's public API, written once: inference/engine/__init__.py reads this stub to export
# these names lazily, and type checkers read it as the package's interface. Everything else in
# the engine is private; the web imports only these names (the import-linter contract in
# pyproject.toml keeps the engine free of Django).
from . import train as train
from .annotation_import import MAX_ZIP_BYTES as MAX_ZIP_BYTES
from .annotation_import import AnnotationImportError as AnnotationImportError
from .annotation_import import read_annotations as read_annotations
from .cell_table import CellTable as CellTable
from .dynamics import compute_masks as compute_masks
from .edited_flows import flows_after_edits as flows_after_edits
from .edited_flows import masks_diameter as masks_diameter
from .export import FORMATS as FORMATS
from .export import SUFFIXES as SUFFIXES
from .export import flows_to_rgb as flows_to_rgb
from .export import safe_stem as safe_stem
from .export import save_flows_tif as save_flows_tif
from .export import save_masks as save_masks
from .export import save_seg_npy as save_seg_npy
from .flows import masks_to_flows as masks_to_flows
from .io import ImageReadError as ImageReadError
from .io import image_info as image_info
from .io import imread as imread
from .io import read_labels as read_labels
from .limits import CostLimits as CostLimits
from .limits import check_cost as check_cost
from .metrics import average_precision as average_precision
from .model import WEIGHTS_DIR as WEIGHTS_DIR
from .model import CellposeModel as CellposeModel
from .model import SegmentationResult as SegmentationResult
from .model import load_model as load_model
from .model import recompute_masks as recompute_masks
from .net import CellposeNet as CellposeNet
from .polygons import cell_polygons as cell_polygons
from .polygons import geojson_features as geojson_features
from .size import SizeModel as SizeModel
from .size import diameter_of_masks as diameter_of_masks
from .synth import synthesize as synthesize
from .train import TrainConfig as TrainConfig
from .train_sources import ArraySource as ArraySource
from .train_sources import DataMix as DataMix
from .train_sources import FolderSource as FolderSource
from .train_sources import SyntheticSource as SyntheticSource
from .train_sources import image_kind as image_kind
from .transforms import convert_image as convert_image
from .transforms import normalize99 as normalize99
