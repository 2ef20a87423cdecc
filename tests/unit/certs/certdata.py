"""Settings and a self-signed pair for the certificate unit tests."""

from __future__ import annotations

import dataclasses

from secumail.config.settings import default_package, settings_from_package


def settings(tmp_path, **acme):
    s = settings_from_package(default_package())
    return dataclasses.replace(
        s,
        main=dataclasses.replace(s.main, data_path=str(tmp_path / "data"), domain="example.org"),
        ssl=dataclasses.replace(s.ssl, type="selfsigned"),
        acme=dataclasses.replace(s.acme, **acme),
    )


def make_pair(s, now=None):
    from secumail.certs.sources import selfsigned

    return selfsigned(s, now)
