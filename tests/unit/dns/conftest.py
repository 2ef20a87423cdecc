import dataclasses

import pytest

from secumail.config.settings import default_package, settings_from_package


def make_settings(tmp_path=None, **sections):
    """Default settings with `section={"option": value}` overrides; data_path in tmp_path."""
    s = settings_from_package(default_package())
    main = {"domain": "example.com", **sections.pop("main", {})}
    if tmp_path is not None:
        main.setdefault("data_path", str(tmp_path))
    s = dataclasses.replace(s, main=dataclasses.replace(s.main, **main))
    for name, values in sections.items():
        s = dataclasses.replace(s, **{name: dataclasses.replace(getattr(s, name), **values)})
    return s


@pytest.fixture
def settings_factory(tmp_path):
    return lambda **sections: make_settings(tmp_path, **sections)
