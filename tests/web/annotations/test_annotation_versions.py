"""Saving an edited annotation: optimistic concurrency (409 on a stale base), one transaction per
save, each mask's origin, the version history and restoring an older version."""
import threading

import numpy as np
import pytest
from django.db import connection

from annotations.encoding import decode_labels, encode_labels
from annotations.models import Annotation
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db


def url(image, suffix=""):
    return f"/api/images/{image.pk}/annotation/{suffix}"


def put(api, image, masks, version, **extra):
    return api.put(url(image), {"version": version, "masks": encode_labels(masks), **extra}, format="json")


def edited(masks):
    """The masks with label 1 deleted, a new cell drawn in the corner and label 2 grown by a column."""
    new = masks.copy()
    new[new == 1] = 0
    new[:4, :4] = 0
    new[:4, :4] = 500
    ys, xs = np.nonzero(new == 2)
    grow = (ys, np.minimum(xs.max() + 1, new.shape[1] - 1))
    new[grow] = np.where(new[grow] == 0, 2, new[grow])
    return new


def stored_files(settings):
    from pathlib import Path

    return sorted(p.name for p in Path(settings.MEDIA_ROOT).rglob("*.npz") if "annotations" in p.parts)


def test_a_save_on_the_latest_version_makes_the_next_one_and_says_what_changed(api, segmented_image, owner):
    response = put(api, segmented_image, edited(segmented_image.true_masks), 1)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["version"], body["base_version"], body["source"], body["created_by"]) == (2, 1, "manual", "olivia")
    changes = body["changes"]
    assert changes["added"] == 1 and changes["removed"] == 1 and changes["edited"] >= 1
    assert changes["unchanged"] == body["n_masks"] - changes["added"] - changes["edited"]


def test_a_save_on_a_stale_version_is_409_and_stores_nothing(api, segmented_image, settings):
    assert put(api, segmented_image, edited(segmented_image.true_masks), 1).status_code == 200
    files = stored_files(settings)

    response = put(api, segmented_image, segmented_image.true_masks, 1)

    assert response.status_code == 409
    body = response.json()
    assert body["current_version"] == 2 and body["base_version"] == 1
    assert "reload" in body["detail"]
    assert Annotation.objects.filter(image=segmented_image).count() == 2
    assert stored_files(settings) == files


def test_saving_on_top_after_a_conflict_uses_the_current_version(api, segmented_image):
    put(api, segmented_image, edited(segmented_image.true_masks), 1)
    mine = segmented_image.true_masks.copy()
    mine[mine == 3] = 0
    conflict = put(api, segmented_image, mine, 1).json()

    response = put(api, segmented_image, mine, conflict["current_version"])

    assert response.status_code == 200 and response.json()["version"] == 3
    saved = decode_labels(api.get(url(segmented_image)).json()["masks"], expected_shape=mine.shape)
    np.testing.assert_array_equal(saved > 0, mine > 0)


def test_the_first_save_of_an_image_without_masks_is_based_on_no_version(api, image):
    masks = np.zeros((64, 64), np.int32)
    masks[10:20, 10:20] = 1

    first = put(api, image, masks, None)
    again = put(api, image, masks, 0)

    assert first.status_code == 200 and first.json()["version"] == 1 and first.json()["base_version"] is None
    assert first.json()["changes"]["added"] == 1
    assert again.status_code == 409


def test_a_save_based_on_a_version_that_never_existed_is_409(api, segmented_image):
    response = put(api, segmented_image, segmented_image.true_masks, 7)

    assert response.status_code == 409 and response.json()["current_version"] == 1


def test_each_mask_remembers_whether_it_came_from_the_model_a_person_or_both(api, segmented_image):
    masks = edited(segmented_image.true_masks)
    put(api, segmented_image, masks, 1)

    body = api.get(url(segmented_image)).json()

    saved = decode_labels(body["masks"], expected_shape=masks.shape)
    origins = body["origins"]
    assert len(origins) == body["n_masks"]
    drawn, grown = int(saved[0, 0]), int(saved[masks == 2][0])
    assert origins[drawn - 1] == "manual"
    assert origins[grown - 1] == "edited"
    assert origins.count("model") == body["n_masks"] - 2
    assert body["ismanual"] == [o != "model" for o in origins]


def test_an_unchanged_edited_mask_stays_edited_and_given_origins_win(api, segmented_image):
    masks = edited(segmented_image.true_masks)
    put(api, segmented_image, masks, 1)
    saved = decode_labels(api.get(url(segmented_image)).json()["masks"], expected_shape=masks.shape)
    origins = [None] * int(saved.max())
    origins[int(saved[0, 0]) - 1] = "model"

    response = put(api, segmented_image, saved, 2, origins=origins)

    assert response.json()["changes"]["unchanged"] == response.json()["n_masks"]
    body = api.get(url(segmented_image)).json()
    assert body["origins"][int(saved[0, 0]) - 1] == "model"
    assert body["origins"].count("edited") == 1


def test_unknown_origins_are_refused(api, segmented_image):
    response = put(api, segmented_image, segmented_image.true_masks, 1, origins=["alien"])

    assert response.status_code == 400 and "origins" in response.json()["detail"]


def test_the_history_lists_who_saved_each_version_and_what_changed(api, segmented_image):
    put(api, segmented_image, edited(segmented_image.true_masks), 1)

    body = api.get(url(segmented_image, "versions/")).json()

    assert body["count"] == 2
    newest, oldest = body["results"]
    assert (newest["version"], newest["source"], newest["created_by"]) == (2, "manual", "olivia")
    assert newest["changes"]["added"] == 1 and newest["changes"]["removed"] == 1
    assert (oldest["version"], oldest["source"], oldest["base_version"]) == (1, "model", None)
    assert oldest["changes"]["added"] == oldest["n_masks"]
    assert newest["created_at"] >= oldest["created_at"]


def test_restoring_an_old_version_makes_its_masks_current_as_a_new_version(api, segmented_image):
    put(api, segmented_image, edited(segmented_image.true_masks), 1)

    response = api.post(url(segmented_image, "versions/1/restore/"), {"version": 2}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["version"], body["source"], body["restored_from"], body["base_version"]) == (3, "restored", 1, 2)
    assert body["changes"]["added"] == 1 and body["changes"]["removed"] == 1
    current = api.get(url(segmented_image)).json()
    np.testing.assert_array_equal(decode_labels(current["masks"], expected_shape=(64, 64)), segmented_image.true_masks)
    assert set(current["origins"]) == {"model"}


def test_a_restore_on_a_stale_version_is_409_and_of_a_missing_version_404(api, segmented_image):
    put(api, segmented_image, edited(segmented_image.true_masks), 1)

    stale = api.post(url(segmented_image, "versions/1/restore/"), {"version": 1}, format="json")
    missing = api.post(url(segmented_image, "versions/9/restore/"), {}, format="json")

    assert stale.status_code == 409 and stale.json()["current_version"] == 2
    assert missing.status_code == 404 and "version 9" in missing.json()["detail"]


def test_a_save_that_fails_stores_no_row_and_no_file(api, segmented_image, settings, monkeypatch):
    files = stored_files(settings)

    def broken_save(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Annotation, "save", broken_save)
    with pytest.raises(RuntimeError):
        put(api, segmented_image, edited(segmented_image.true_masks), 1)
    monkeypatch.undo()

    assert Annotation.objects.filter(image=segmented_image).count() == 1
    assert stored_files(settings) == files


def test_when_a_racing_save_commits_first_the_unique_version_refuses_the_second(segmented_image, owner, monkeypatch):
    """The conditional insert: even if the version check were fooled, (image, version) is unique."""
    from annotations import services

    masks = edited(segmented_image.true_masks)  # a save that changes something (else no version at all)
    services.annotation_save(image=segmented_image, base_version=1, masks=masks, created_by=owner)
    calls = iter([1, 2])  # the check inside the lock sees the stale latest version once
    monkeypatch.setattr(services, "_latest_version", lambda image: next(calls))

    with pytest.raises(services.StaleVersionError) as raised:
        services.annotation_save(image=segmented_image, base_version=1, masks=masks, created_by=owner)

    assert raised.value.current_version == 2
    assert Annotation.objects.filter(image=segmented_image).count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_saves_at_once_on_the_same_version_cannot_both_win(segmented_image, owner):
    from annotations.services import StaleVersionError, annotation_save

    start = threading.Barrier(2)
    outcomes = []

    def save(label):
        masks = segmented_image.true_masks.copy()
        masks[:3, :3] = label
        start.wait()
        try:
            outcomes.append(annotation_save(image=segmented_image, base_version=1, masks=masks, created_by=owner).version)
        except StaleVersionError as exc:
            outcomes.append(f"stale {exc.current_version}")
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(label,)) for label in (900, 901)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(map(str, outcomes)) == ["2", "stale 2"]
    assert list(Annotation.objects.filter(image=segmented_image).values_list("version", flat=True)) == [2, 1]


def test_a_stack_is_saved_and_compared_plane_by_plane(api, make_image):
    from tests.web.conftest import data_file

    body = api.post("/api/images/", {"file": data_file("img3d.tif")}, format="multipart").json()
    image = type("I", (), {"pk": body["id"]})
    masks = np.zeros((31, 61, 57), np.int32)
    masks[10:20, 10:30, 10:30] = 4
    first = put(api, image, masks, None).json()
    masks[12, 10:30, 30] = 4

    second = put(api, image, masks, first["version"]).json()

    assert second["changes"]["edited"] == 1 and second["summary"]["n_masks"] == 1


def test_an_annotation_body_larger_than_any_encoding_is_413(api, segmented_image):
    response = api.generic(
        "PUT", url(segmented_image), b"{" + b" " * (64 * 64 * 6 + 8 * 1024 * 1024 + 10) + b"}",
        content_type="application/json",
    )

    assert response.status_code == 413


def test_other_users_cannot_see_or_restore_the_history(segmented_image, other_user):
    client = client_for(other_user)

    assert client.get(url(segmented_image, "versions/")).status_code == 404
    assert client.post(url(segmented_image, "versions/1/restore/"), {}, format="json").status_code == 404


def test_an_annotation_bigger_than_django_form_limits_is_saved(api, make_image, settings):
    """Random labels barely compress: this body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE."""
    from tests.web.conftest import tiff_bytes

    image = make_image(name="big.tif", content=tiff_bytes(np.zeros((1024, 1024), np.uint8)))
    masks = np.random.default_rng(0).integers(0, 2**31 - 1, (1024, 1024), dtype=np.int32)
    body = {"version": 0, "masks": encode_labels(masks)}
    assert len(body["masks"]["data"]) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    response = api.put(url(image), body, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["n_masks"] == len(np.unique(masks)) - (0 in masks)


def test_a_body_that_is_not_json_is_400(api, segmented_image):
    response = api.generic("PUT", url(segmented_image), b'{"version": 1, "masks": ', content_type="application/json")

    assert response.status_code == 400 and "JSON" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)  # so that "inside a transaction" means the service's own
def test_a_new_version_reads_and_writes_storage_outside_any_transaction(owner, image, monkeypatch):
    from django.db import connection

    from annotations import display, services

    seen = []
    real_content, real_base = services.npz_content, services._base_arrays

    def content(**arrays):
        seen.append(("write", connection.in_atomic_block))
        return real_content(**arrays)

    def base(*args, **kwargs):
        seen.append(("read", connection.in_atomic_block))
        return real_base(*args, **kwargs)

    monkeypatch.setattr(services, "npz_content", content)
    monkeypatch.setattr(services, "_base_arrays", base)
    masks = np.zeros(display.spatial_shape(image.shape, image.axes), np.int32)
    masks[2:6, 2:6] = 1
    services.annotation_create(image=image, masks=masks, source="model")
    masks[10:14, 10:14] = 2
    second = services.annotation_create(image=image, masks=masks, source="model")

    assert second.version == 2 and second.base_version == 1
    assert [what for what, _ in seen] == ["read", "write", "read", "write"]
    assert not any(locked for _, locked in seen)


def test_a_save_that_changes_nothing_makes_no_new_version(api, segmented_image):
    response = put(api, segmented_image, segmented_image.true_masks, 1)

    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert Annotation.objects.filter(image=segmented_image).count() == 1


def test_a_save_that_changes_nothing_on_a_stale_version_is_still_409(api, segmented_image):
    assert put(api, segmented_image, edited(segmented_image.true_masks), 1).json()["version"] == 2

    response = put(api, segmented_image, segmented_image.true_masks, 1)

    assert response.status_code == 409
    assert response.json()["current_version"] == 2
