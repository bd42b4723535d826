"""Services store their files before the short transaction that adds the row (no row lock or
transaction is held while storage is read or written), and delete them when the row is not
saved; what was saved stays readable."""
import pytest
from django.core.files.storage import default_storage

from tests.web.conftest import stored_names, tiff_bytes, small_image, upload

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_model_version_is_stored_outside_the_transaction_and_stays_readable(tiny_model_path, storage_writes):
    from inference.model_versions import model_version_create

    model_version = model_version_create(name="tiny", file_path=tiny_model_path, make_current=True)

    assert [inside for name, inside in storage_writes if name.startswith("models/")] == [False]
    assert model_version.version == 1 and model_version.is_current
    with default_storage.open(model_version.file.name, "rb") as fh:
        assert fh.read() == tiny_model_path.read_bytes()
    assert model_version.file.name.startswith("models/tiny-v1-")


def test_a_model_version_whose_row_fails_leaves_no_file(tiny_model_path, monkeypatch):
    from inference import model_versions
    from inference.model_versions import model_version_create
    from inference.models import ModelVersion

    def refused(*, model_version, **kwargs):
        raise RuntimeError("the database refused it")

    before = set(stored_names("models"))
    monkeypatch.setattr(model_versions, "model_version_make_current", refused)
    with pytest.raises(RuntimeError):
        model_version_create(name="tiny", file_path=tiny_model_path, make_current=True)

    assert set(stored_names("models")) == before and not ModelVersion.objects.exists()


def test_an_imported_model_whose_card_fails_leaves_no_file(admin_user, monkeypatch, tiny_model_path, storage_writes):
    from community import services
    from inference.models import ModelVersion

    def refused(**kwargs):
        raise RuntimeError("the card could not be saved")

    before = set(stored_names("models"))
    monkeypatch.setattr(services.ModelCard.objects, "create", refused)
    with pytest.raises(RuntimeError):
        services.model_version_import(uploaded_file=upload("tiny.pt", tiny_model_path.read_bytes()), actor=admin_user)

    assert set(stored_names("models")) == before and not ModelVersion.objects.exists()
    assert storage_writes and not any(inside for _, inside in storage_writes)


def test_an_image_is_stored_outside_the_transaction_and_stays_readable(owner, storage_writes):
    from annotations.services import image_create

    image = image_create(owner=owner, uploaded_file=upload("cells.tif", tiff_bytes(small_image())))

    written = {name: inside for name, inside in storage_writes}
    assert written[image.file.name] is False and written[image.thumbnail.name] is False
    with default_storage.open(image.file.name, "rb") as fh:
        assert fh.read() == tiff_bytes(small_image())
    assert default_storage.exists(image.thumbnail.name)


def test_an_image_whose_row_fails_leaves_no_file(owner, monkeypatch):
    from annotations.models import Image
    from annotations.services import image_create

    def refused(self, *args, **kwargs):
        raise RuntimeError("the database refused it")

    kept = image_create(owner=owner, uploaded_file=upload("kept.tif", tiff_bytes(small_image())))
    before = set(stored_names("images")) | set(stored_names("thumbnails"))
    monkeypatch.setattr(Image, "save", refused)
    with pytest.raises(RuntimeError):
        image_create(owner=owner, uploaded_file=upload("cells.tif", tiff_bytes(small_image())))

    assert set(stored_names("images")) | set(stored_names("thumbnails")) == before
    assert kept.file.name in before and kept.thumbnail.name in before  # what was saved is still there
