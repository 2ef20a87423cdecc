"""The certificate tests' site: a confdir and data_path using the session's Knot and pebble (the
`servers` fixture of tests/integration/conftest.py)."""

import pytest

from tests.integration.certs.site import Site


@pytest.fixture
def site(servers, tmp_path):
    return Site(str(tmp_path), servers)
