"""The certificate tests' sites: a confdir and data_path using the session's Knot and pebble (the
`servers` fixture of tests/integration/conftest.py), with or without a real mail container."""

import pytest

from tests.integration.certs.mailsite import mail_site
from tests.integration.certs.site import Site


@pytest.fixture
def site(servers, tmp_path):
    return Site(str(tmp_path), servers)


@pytest.fixture(scope="module")
def mailsite(servers):
    """One mail container per test module (tests/integration/certs/mailsite.py)."""
    with mail_site(servers) as site:
        yield site
