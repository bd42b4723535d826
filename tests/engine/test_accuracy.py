"""accuracy.evaluate: options reach segment, and the table summarises each group."""
from types import SimpleNamespace

import numpy as np

from inference.engine.accuracy import EvalItem, evaluate


class RecordingModel:
    """Answers every segment call with the true labels and remembers the arguments."""

    def __init__(self):
        self.calls = []

    def segment(self, image, **options):
        self.calls.append(options)
        return SimpleNamespace(masks=image.copy(), diameter=4.0)


def labels_with_cells(n):
    labels = np.zeros((40, 40), np.int32)
    for k in range(n):
        labels[2 + 6 * k:6 + 6 * k, 2:6] = k + 1
    return labels


def test_segment_options_reach_every_item_and_an_items_own_options_win():
    model = RecordingModel()
    items = [EvalItem(labels_with_cells(3), labels_with_cells(3), "set/a"),
             EvalItem(labels_with_cells(2), labels_with_cells(2), "set/b", options={"flow_threshold": 0.9})]
    table = evaluate(model, items, segment_options={"cellprob_threshold": -1.0, "flow_threshold": 0.6})
    assert [c["cellprob_threshold"] for c in model.calls] == [-1.0, -1.0]
    assert [c["flow_threshold"] for c in model.calls] == [0.6, 0.9]
    assert table["set/a"]["ap50"] == 1.0 and table["set/all"]["n_true"] == 5


def test_without_segment_options_segment_gets_its_own_defaults():
    model = RecordingModel()
    evaluate(model, [EvalItem(labels_with_cells(1), labels_with_cells(1), "one")])
    assert "cellprob_threshold" not in model.calls[0] and model.calls[0]["channels"] == (0, 0)
