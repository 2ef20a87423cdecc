from setuptools import find_packages, setup

setup(
    name="secumail",
    version="0.1.0",
    description="A small, secure mail server appliance for OpenWrt routers",
    license="GPL-2.0-or-later",
    python_requires=">=3.9",
    packages=find_packages(include=["secumail", "secumail.*"]),
    package_data={"secumail": ["mail/templates/*", "mail/templates/*/*"]},
    install_requires=[],
    extras_require={
        # What the features need at run time; each exists for OpenWrt (python3-*) or is small pure Python.
        "full": ["dnspython>=2.3", "cryptography>=38", "bcrypt>=3.2", "acme>=2.0", "josepy>=1.13", "paramiko>=3",
                 "zeroconf>=0.47"],
        "test": [
            "pytest>=7",
            "pytest-xdist>=3.6",  # make test: worlds side by side (tests/support/worlds.py)
            "hypothesis>=6",
            "ruff>=0.4",
            "dnspython>=2.3",
            "cryptography>=38",
            "bcrypt>=3.2",
            "acme>=2.0",
            "josepy>=1.13",
            "paramiko>=3",  # mesh transport (tests/integration/mesh)
            "zeroconf>=0.47",  # mesh discovery (tests/integration/mesh/test_discovery.py)
            "zstandard>=0.21",  # mesh compression on hosts that have it
            # Independent validators of the published SPF/DMARC/DKIM records (tests/integration/dns).
            "checkdmarc>=5",
            "dkimpy>=1.1",
            "pyspf>=2.0.14",
            "prometheus_client>=0.16",  # parses `mailctl metrics` (tests/unit/appliance/test_metrics.py)
            # LuCI in headless Chromium (tests/integration/luci/test_browser.py; Debian's chromium + chromedriver)
            "selenium>=4.10",
            "caldav>=1.3",  # a CalDAV client against Radicale (tests/integration/mail/test_dav.py)
        ],
    },
    entry_points={
        "console_scripts": [
            "mailctl=secumail.cli:run",
            "secumaild=secumail.daemon:main",
        ],
        "secumail.dns_providers": [
            "rfc2136=secumail.dns.providers.rfc2136:Provider",
            "powerdns=secumail.dns.providers.powerdns:Provider",
            "cloudflare=secumail.dns.providers.cloudflare:Provider",
            "desec=secumail.dns.providers.desec:Provider",
            "hetzner=secumail.dns.providers.hetzner:Provider",
            "gandi=secumail.dns.providers.gandi:Provider",
            "digitalocean=secumail.dns.providers.digitalocean:Provider",
            "exec=secumail.dns.providers.exec:Provider",
            "manual=secumail.dns.providers.manual:Provider",
        ],
    },
)
