from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data_dir():
    return DATA


@pytest.fixture(scope="session")
def static_root(tmp_path_factory):
    """STATIC_ROOT filled by ``collectstatic`` for the whole run, as ``make run`` and deploys fill it:
    pages link the content-hashed names of its manifest (cellposeweb/staticfiles.py)."""
    from django.core.management import call_command
    from django.test import override_settings

    root = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=str(root)):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield root
