import pytest

from tests.support.settings import make_settings


@pytest.fixture
def settings_factory(tmp_path):
    return lambda **sections: make_settings(tmp_path, **sections)
