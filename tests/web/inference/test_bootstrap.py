"""manage.py bootstrap: registers the default model once and creates the first administrator."""
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from inference.models import ModelVersion

pytestmark = pytest.mark.django_db


def bootstrap(capsys, **options) -> str:
    call_command("bootstrap", **options)
    return capsys.readouterr().out


def test_it_registers_the_weights_as_the_current_model_once(capsys, tiny_model_path, monkeypatch):
    monkeypatch.setenv("CELLPOSEWEB_ADMIN_PASSWORD", "x-secret-password")

    first = bootstrap(capsys, weights=str(tiny_model_path))
    second = bootstrap(capsys, weights=str(tiny_model_path))

    model = ModelVersion.objects.get()
    assert model.is_current and (model.name, model.version) == ("default", 1)
    assert model.nbase == [2, 8, 16, 32, 64] and model.diam_mean == 30.0 and len(model.sha256) == 64
    assert "Registered default v1 as the current model." in first
    assert "A current model is registered." in second


def test_without_weights_it_warns_and_registers_nothing(capsys, tmp_path):
    out = bootstrap(capsys, weights=str(tmp_path / "missing.pt"))

    assert "No model file" in out
    assert not ModelVersion.objects.exists()


def test_it_refuses_a_file_that_is_not_a_model(capsys, tmp_path):
    from django.core.management.base import CommandError

    bad = tmp_path / "default.pt"
    bad.write_bytes(b"garbage")

    with pytest.raises(CommandError, match="Cannot register default.pt as a model"):
        bootstrap(capsys, weights=str(bad))
    assert not ModelVersion.objects.exists()


def test_it_creates_the_administrator_from_the_environment(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CELLPOSEWEB_ADMIN_USER", "boss")
    monkeypatch.setenv("CELLPOSEWEB_ADMIN_PASSWORD", "correct horse battery")

    out = bootstrap(capsys, weights=str(tmp_path / "none.pt"))

    user = get_user_model().objects.get(username="boss")
    assert user.is_staff and user.is_superuser and user.check_password("correct horse battery")
    assert "correct horse battery" not in out


def test_a_generated_password_is_printed_once(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("CELLPOSEWEB_ADMIN_USER", raising=False)
    monkeypatch.delenv("CELLPOSEWEB_ADMIN_PASSWORD", raising=False)

    first = bootstrap(capsys, weights=str(tmp_path / "none.pt"))
    second = bootstrap(capsys, weights=str(tmp_path / "none.pt"))

    password = first.split("with password: ")[1].split()[0]
    assert get_user_model().objects.get(username="admin").check_password(password)
    assert password not in second and "An administrator exists." in second


def _carded_copy(source, path, card):
    from inference.engine.model import CellposeModel

    model = CellposeModel.from_file(source, device="cpu")
    model.meta = {**model.meta, "card": card}
    model.save(path)
    return path


def test_new_shipped_weights_replace_an_earlier_default_and_bring_their_card(capsys, tiny_model_path, tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv("CELLPOSEWEB_ADMIN_PASSWORD", "x-secret-password")
    bootstrap(capsys, weights=str(tiny_model_path))
    card = {"training_data": [{"source": "dsb2018-train", "n_images": 541, "licence": "CC0"}],
            "weaknesses": ["brightfield: AP@0.5 0.57"]}
    newer = _carded_copy(tiny_model_path, tmp_path / "default.pt", card)

    out = bootstrap(capsys, weights=str(newer))

    current = ModelVersion.objects.get(is_current=True)
    assert (current.name, current.version) == ("default", 2)
    assert current.metrics["card"] == card
    assert "Registered default v2 as the current model." in out


def test_new_shipped_weights_do_not_displace_a_released_community_model(capsys, tiny_model_path, tmp_path,
                                                                        monkeypatch):
    from inference.model_versions import model_version_create

    monkeypatch.setenv("CELLPOSEWEB_ADMIN_PASSWORD", "x-secret-password")
    bootstrap(capsys, weights=str(tiny_model_path))
    model_version_create(name="community", file_path=_carded_copy(tiny_model_path, tmp_path / "c.pt", {}),
                         make_current=True)
    newer = _carded_copy(tiny_model_path, tmp_path / "default.pt", {"weaknesses": []})

    out = bootstrap(capsys, weights=str(newer))

    assert str(ModelVersion.objects.get(is_current=True)) == "community v1"
    assert ModelVersion.objects.filter(name="default").count() == 2
    assert "Registered default v2; community v1 stays the current model." in out
