"""One ACME DNS-01 issuance with the `acme` library (worker side only).

Steps: account (key created once, registered once per CA, EAB when asked),
order, challenge TXT records through the DNS provider, propagation check
against the authoritative servers, answer, brief polling (the library's
poll_and_finalize sleeps a whole second between polls), finalize, download.
The TXT records are removed whatever happened.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import josepy as jose
import requests
from acme import challenges, client, messages
from acme import errors as acme_errors

from secumail.certs import keys
from secumail.certs.ca import ca_bundle_for, directory_for, eab_credentials
from secumail.certs.paths import CertPaths, cert_names
from secumail.errors import SecumailError

if TYPE_CHECKING:
    from secumail.config.settings import Settings

logger = logging.getLogger(__name__)

USER_AGENT = "secumail"


@dataclass
class Issued:
    fullchain: bytes
    key_pem: bytes
    ari_url: str | None
    timings: dict[str, float]


class _Poll:
    """Short, growing sleeps up to a deadline: pebble answers in milliseconds, real CAs in seconds."""

    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.delay = 0.02

    def wait(self, what: str) -> None:
        if time.monotonic() >= self.deadline:
            raise SecumailError(f"the ACME CA did not finish {what} in time; try again later")
        time.sleep(self.delay)
        self.delay = min(self.delay * 2, 2.0)


def _problem(exc: messages.Error) -> str:
    detail = exc.detail or exc.description or exc.typ or "no detail"
    return str(detail).splitlines()[0]


@dataclass
class _Session:
    """One issuance: the CA, our account key and connection to it, and the clock of its steps."""

    settings: Settings
    directory_url: str
    net: client.ClientNetwork
    jwk: jose.JWK
    account_dir: str
    started: float
    timings: dict[str, float] = field(default_factory=dict)

    def mark(self, step: str) -> None:
        self.timings[step] = time.monotonic() - self.started


def _account(session: _Session, acme: client.ClientV2, *, known: bool = True) -> None:
    """Use the account this key registered at this CA, or register one (known=False: ignore the saved one)."""
    net, jwk, account_dir = session.net, session.jwk, session.account_dir
    settings, directory_url = session.settings, session.directory_url
    uri = keys.load_account_uri(account_dir) if known else None
    net.account = None  # newAccount is signed with the key itself, not with an account URL
    if uri:
        net.account = messages.RegistrationResource(uri=uri, body=messages.Registration())
        return
    eab = None
    credentials = eab_credentials(settings)
    if credentials is not None:
        kid, hmac_key = credentials
        eab = messages.ExternalAccountBinding.from_data(
            account_public_key=jwk.public_key(), kid=kid, hmac_key=hmac_key, directory=acme.directory
        )
    elif acme.external_account_required():
        raise SecumailError(
            f"the CA at {directory_url} requires external account binding: set "
            "mailserver.acme.eab_kid and the HMAC key file"
        )
    contact = {"email": settings.acme.email} if settings.acme.email else {}
    registration = messages.NewRegistration.from_data(
        terms_of_service_agreed=True, external_account_binding=eab, **contact
    )
    try:
        regr = acme.new_account(registration)
    except acme_errors.ConflictError as exc:  # this key already has an account
        regr = messages.RegistrationResource(uri=exc.location, body=messages.Registration())
    net.account = regr
    keys.save_account_uri(account_dir, regr.uri, directory_url)


def issue(
    settings: Settings,
    paths: CertPaths,
    provider_factory: Callable[[Any], Any],
    propagation: Callable[[list[tuple[str, str]]], float],
    timeout: float = 180,
) -> Issued:
    """Obtain a certificate for cert_names(settings); raise SecumailError with one line on failure."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    directory_url = directory_for(settings)
    verify: Any = ca_bundle_for(settings) or True
    names = cert_names(settings)
    account_dir = paths.account_dir(directory_url)
    jwk = jose.JWKEC(key=keys.account_key(account_dir))
    net = client.ClientNetwork(jwk, alg=jose.ES256, verify_ssl=verify, user_agent=USER_AGENT, timeout=30)
    session = _Session(settings, directory_url, net, jwk, account_dir, started, timings)
    try:
        return _issue(session, names, provider_factory=provider_factory, propagation=propagation, timeout=timeout)
    except requests.exceptions.SSLError as exc:
        raise SecumailError(
            f"cannot reach the ACME CA at {directory_url}: TLS verification failed "
            f"({_short(exc)}); check mailserver.acme.ca_bundle"
        ) from None
    except requests.exceptions.RequestException as exc:
        raise SecumailError(f"cannot reach the ACME CA at {directory_url}: {_short(exc)}") from None
    except messages.Error as exc:
        raise SecumailError(f"the ACME CA rejected the request: {_problem(exc)}") from None
    except acme_errors.Error as exc:
        raise SecumailError(f"ACME protocol error with {directory_url}: {_short(exc)}") from None


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    # requests wraps urllib3 errors in long reprs; the innermost reason is the useful part
    if "Caused by" in text:
        text = text.split("Caused by", 1)[1].strip(" ()")
    return text.splitlines()[0][:200]


def _issue(
    session: _Session,
    names: list[str],
    *,
    provider_factory: Callable[[Any], Any],
    propagation: Callable[[list[tuple[str, str]]], float],
    timeout: float,
) -> Issued:
    settings, directory_url, jwk = session.settings, session.directory_url, session.jwk
    directory = client.ClientV2.get_directory(directory_url, session.net)
    acme = client.ClientV2(directory, session.net)
    _account(session, acme)
    session.mark("account")

    cert_key = keys.new_private_key(settings.acme.key_type)
    csr_pem = keys.make_csr(cert_key, names)
    try:
        order = acme.new_order(csr_pem)
    except messages.Error as exc:
        if exc.code != "accountDoesNotExist":
            raise
        # the CA forgot the account we saved (a reset staging CA, a deactivated account): register again
        logger.warning("the ACME CA at %s no longer knows our account; registering again", directory_url)
        _account(session, acme, known=False)
        order = acme.new_order(csr_pem)
    todo = []
    for authzr in order.authorizations:
        if authzr.body.status == messages.STATUS_VALID:
            continue
        challb = next((c for c in authzr.body.challenges if isinstance(c.chall, challenges.DNS01)), None)
        if challb is None:
            raise SecumailError(f"the CA offers no dns-01 challenge for {authzr.body.identifier.value}")
        domain = authzr.body.identifier.value
        todo.append((authzr, challb, challb.chall.validation_domain_name(domain), challb.chall.validation(jwk)))
    session.mark("order")

    added: list[tuple[str, str]] = []
    provider = provider_factory(settings) if todo else None
    try:
        for _, _, name, value in todo:
            try:
                provider.add_txt(name, value, 60)
            except SecumailError as exc:
                raise SecumailError(f"cannot set the challenge TXT {name}: {exc}") from None
            added.append((name, value))
        session.mark("txt_set")
        if added:
            propagation(added)
        session.mark("propagated")
        for _, challb, _, _ in todo:
            acme.answer_challenge(challb, challb.chall.response(jwk))
        _wait_authorizations(acme, order, timeout)
        session.mark("validated")
    finally:
        problems = []
        for name, value in added:
            try:
                provider.del_txt(name, value)
            except Exception as exc:  # noqa: BLE001 - try every record, report after
                problems.append(f"{name}: {exc}")
        if problems:
            logger.error("could not remove challenge TXT records: %s", "; ".join(problems))
        session.mark("txt_removed")

    fullchain = _finalize(acme, order, timeout).encode()
    session.mark("issued")
    key_pem = keys.private_pem(cert_key)
    leaf = keys.check_pair(fullchain, key_pem)
    ari_url = None
    base = directory.to_partial_json().get("renewalInfo")
    cert_id = keys.ari_cert_id(leaf)
    if base and cert_id:
        ari_url = base.rstrip("/") + "/" + cert_id
    return Issued(fullchain, key_pem, ari_url, session.timings)


def _wait_authorizations(acme: client.ClientV2, order: messages.OrderResource, timeout: float) -> None:
    poll = _Poll(timeout)
    for authzr in order.authorizations:
        while True:
            authzr, _ = acme.poll(authzr)
            status = authzr.body.status
            if status == messages.STATUS_VALID:
                break
            if status == messages.STATUS_INVALID:
                errs = [c.error for c in authzr.body.challenges if c.error is not None]
                detail = _problem(errs[0]) if errs else "no detail"
                raise SecumailError(f"the CA could not validate {authzr.body.identifier.value}: {detail}")
            poll.wait("validating the challenge")


def _finalize(acme: client.ClientV2, order: messages.OrderResource, timeout: float) -> str:
    poll = _Poll(timeout)
    try:
        order = acme.begin_finalization(order)
    except messages.Error as exc:
        if exc.code != "orderNotReady":
            raise
    while True:
        body = order.body
        if body.status == messages.STATUS_VALID and body.certificate is not None:
            return acme._post_as_get(body.certificate).text  # noqa: SLF001 - the library's own download
        if body.status == messages.STATUS_INVALID:
            detail = _problem(body.error) if body.error is not None else "no detail"
            raise SecumailError(f"the ACME CA refused to issue the certificate: {detail}")
        poll.wait("issuing the certificate")
        response = acme._post_as_get(order.uri)  # noqa: SLF001
        order = order.update(body=messages.Order.from_json(response.json()))


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
