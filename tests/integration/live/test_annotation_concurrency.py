"""Two clients saving the same annotation at the same moment, through two web processes on
PostgreSQL: exactly one save wins, the other gets 409 and nothing is lost or overwritten."""
import threading

import numpy as np

from annotations.encoding import encode_labels
from tests.integration.live.conftest import tiff, upload

ROUNDS = 8


def masks_with_a_square(seed, size=128):
    rng = np.random.default_rng(seed)
    masks = np.zeros((size, size), np.int32)
    y, x = rng.integers(0, size - 20, 2)
    masks[y : y + 12 + seed % 8, x : x + 12] = 1
    masks[5:15, 5 : 10 + seed % 20] = 2
    return masks


def test_concurrent_saves_of_one_annotation_let_exactly_one_win(stack):
    _, token = stack.user("editor")
    clients = [stack.http(token), stack.http(token)]  # separate connections: both web processes serve them
    image = upload(clients[0], tiff(128, seed=5), name="shared.tif")
    url = f"/api/images/{image['id']}/annotation/"
    first = clients[0].put(url, json={"version": 0, "masks": encode_labels(masks_with_a_square(0))})
    assert first.status_code == 200, first.text
    version = first.json()["version"]

    for round_ in range(ROUNDS):
        candidates = [masks_with_a_square(100 + 2 * round_), masks_with_a_square(101 + 2 * round_)]
        barrier, results = threading.Barrier(2), [None, None]

        def save(k):
            barrier.wait()
            results[k] = clients[k].put(url, json={"version": version, "masks": encode_labels(candidates[k])})

        threads = [threading.Thread(target=save, args=(k,)) for k in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        statuses = sorted(r.status_code for r in results)
        assert statuses == [200, 409], [r.text for r in results]
        winner = next(k for k in (0, 1) if results[k].status_code == 200)
        loser = results[1 - winner].json()
        assert loser["current_version"] == version + 1 and loser["base_version"] == version
        saved = clients[0].get(url).json()
        assert saved["version"] == version + 1
        assert saved["masks"] == clients[0].get(url).json()["masks"]
        from annotations.encoding import decode_labels

        np.testing.assert_array_equal(decode_labels(saved["masks"], expected_shape=(128, 128)) > 0, candidates[winner] > 0)
        version += 1

    versions = clients[0].get(f"/api/images/{image['id']}/annotation/versions/").json()
    listed = versions["results"] if isinstance(versions, dict) else versions
    assert len(listed) == ROUNDS + 1  # one version per round: no save was lost or doubled
