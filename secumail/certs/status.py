"""What `mailctl ssl-status` shows (CLI side: may import cryptography, never acme)."""

from __future__ import annotations

import datetime as dt
import random
from typing import TYPE_CHECKING, Any

from secumail.certs import policy
from secumail.certs.der import leaf_validity
from secumail.certs.paths import cert_names, cert_paths
from secumail.certs.state import _iso, load_state

if TYPE_CHECKING:
    from secumail.config.settings import Settings


def _key_type(public_key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ec256", "secp384r1": "ec384"}.get(public_key.curve.name, public_key.curve.name)
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"rsa{public_key.key_size}"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ed25519"
    return type(public_key).__name__


def certificate_details(path: str) -> dict[str, Any] | None:
    from cryptography import x509

    try:
        with open(path, "rb") as handle:
            cert = x509.load_pem_x509_certificate(handle.read())
    except (OSError, ValueError):
        return None
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName
        )
    except x509.ExtensionNotFound:
        sans = []
    return {
        "subject": cert.subject.rfc4514_string(),
        "sans": list(sans),
        "issuer": cert.issuer.rfc4514_string(),
        "key_type": _key_type(cert.public_key()),
        "serial": format(cert.serial_number, "x"),
        "not_before": _iso(cert.not_valid_before_utc),
        "not_after": _iso(cert.not_valid_after_utc),
    }


def ssl_status(settings: Settings, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.timezone.utc)
    paths = cert_paths(settings)
    state = load_state(paths.state)
    validity = leaf_validity(paths.fullchain)
    details = certificate_details(paths.fullchain)
    decision = policy.decide(validity, state, now, random.Random(0))  # noqa: S311 - display only
    days_left = round(decision.days_left, 1) if decision.days_left is not None else None
    next_renewal = decision.renew_at
    if decision.not_before_retry and (next_renewal is None or decision.not_before_retry > next_renewal):
        next_renewal = decision.not_before_retry
    names = cert_names(settings)
    missing = [n for n in names if details and n not in details["sans"]]
    return {
        "source": settings.ssl.type,
        "names": names,
        "present": details is not None,
        "certificate": details,
        "files": {"fullchain": paths.fullchain, "privkey": paths.privkey},
        "days_left": days_left,
        "expired": days_left is not None and days_left <= 0,
        "warning": decision.warn,
        "missing_names": missing,
        "next_renewal": _iso(next_renewal) if details else "now (no certificate)",
        "renewal_due": decision.due,
        "last_attempt": _iso(state.last_attempt),
        "last_success": _iso(state.last_success),
        "last_error": state.last_error,
        "failures": state.failures,
        "ari": state.ari.url if state.ari else None,
    }


def up_to_date(settings: Settings, now: dt.datetime) -> str | None:
    """Why no new certificate is needed (for ssl-setup without --force), or None."""
    paths = cert_paths(settings)
    validity = leaf_validity(paths.fullchain)
    if validity is None:
        return None
    state = load_state(paths.state)
    if state.serial != validity.serial:
        return None
    if state.extra.get("source") != settings.ssl.type or state.extra.get("names") != cert_names(settings):
        return None
    if settings.ssl.type == "openwrt-acme":
        from secumail.certs.openwrt import source_changed

        if source_changed(settings):  # OpenWrt's acme renewed it (the hotplug hook runs ssl-setup)
            return None
        return "OpenWrt's acme certificate is unchanged and already installed"
    decision = policy.decide(validity, state, now, random.Random(0))  # noqa: S311 - not a secret
    if decision.due or state.failures:
        return None
    return f"the certificate is valid until {_iso(validity.not_after)} and not due for renewal"
