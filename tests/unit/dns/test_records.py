"""The desired record set: a pure function of Settings + keys."""

import hashlib

import pytest

from secumail.dns.records import (
    Keys,
    RRset,
    check_name,
    desired_records,
    mta_sts_id,
    mta_sts_policy,
    normalize,
    txt_quote,
    txt_strings,
    txt_tag,
    txt_text,
)
from secumail.errors import InputError
from tests.support.settings import make_settings

KEYS = Keys(dkim={"mail": "v=DKIM1; k=rsa; p=" + "A" * 392}, ipv4="192.0.2.10")


def by_key(rrsets):
    return {(r.name, r.type): r.values for r in rrsets}


def test_default_record_set_of_the_main_domain():
    got = by_key(desired_records(make_settings(), "example.com", KEYS))
    assert got[("mail.example.com", "A")] == ("192.0.2.10",)
    assert got[("example.com", "MX")] == ("10 mail.example.com.",)
    assert got[("example.com", "TXT")] == ('"v=spf1 mx ~all"',)
    assert got[("_dmarc.example.com", "TXT")] == ('"v=DMARC1; p=none; rua=mailto:postmaster@example.com"',)
    assert txt_text(got[("mail._domainkey.example.com", "TXT")][0]) == KEYS.dkim["mail"]
    assert got[("_submissions._tcp.example.com", "SRV")] == ("0 1 465 mail.example.com.",)
    assert got[("_submission._tcp.example.com", "SRV")] == ("0 1 587 mail.example.com.",)
    assert got[("_imaps._tcp.example.com", "SRV")] == ("0 1 993 mail.example.com.",)
    assert got[("_imap._tcp.example.com", "SRV")] == ("0 1 143 mail.example.com.",)
    assert got[("_pop3s._tcp.example.com", "SRV")] == ("0 1 995 mail.example.com.",)
    assert got[("_pop3._tcp.example.com", "SRV")] == ("0 1 110 mail.example.com.",)
    assert got[("autoconfig.example.com", "CNAME")] == ("mail.example.com.",)
    assert got[("autodiscover.example.com", "CNAME")] == ("mail.example.com.",)
    assert got[("_smtp._tls.example.com", "TXT")] == ('"v=TLSRPTv1; rua=mailto:postmaster@example.com"',)
    assert got[("mail.example.com", "CAA")] == ('0 issue "letsencrypt.org"',)
    # mta_sts defaults to none, dnssec to off, no IPv6 configured
    assert ("_mta-sts.example.com", "TXT") not in got
    assert ("_25._tcp.mail.example.com", "TLSA") not in got
    assert ("mail.example.com", "AAAA") not in got
    assert all(r.ttl == 3600 for r in desired_records(make_settings(), "example.com", KEYS))


def test_same_input_same_output_and_stable_order():
    s = make_settings()
    assert desired_records(s, "example.com", KEYS) == desired_records(s, "example.com", KEYS)


def test_second_domain_points_at_the_main_host_and_has_no_host_records():
    got = by_key(desired_records(make_settings(), "example.org", KEYS))
    assert got[("example.org", "MX")] == ("10 mail.example.com.",)
    assert got[("_dmarc.example.org", "TXT")] == ('"v=DMARC1; p=none; rua=mailto:postmaster@example.org"',)
    assert not [k for k in got if k[0] == "mail.example.com"]


def test_policies_rua_ttl_and_ipv6():
    s = make_settings(
        dns={
            "spf_policy": "-all",
            "dmarc_policy": "reject",
            "dmarc_rua": "dm@reports.example.net",
            "ttl": 300,
        }
    )
    got = by_key(desired_records(s, "example.com", Keys(ipv4="192.0.2.1", ipv6="2001:db8::1")))
    assert got[("example.com", "TXT")] == ('"v=spf1 mx -all"',)
    assert got[("_dmarc.example.com", "TXT")] == ('"v=DMARC1; p=reject; rua=mailto:dm@reports.example.net"',)
    assert got[("mail.example.com", "AAAA")] == ("2001:db8::1",)
    assert {r.ttl for r in desired_records(s, "example.com", Keys(ipv4="192.0.2.1"))} == {300}


def test_disabled_ports_get_the_no_service_target():
    s = make_settings(ports={"pop3": 0, "pop3s": 0, "imap": 0})
    got = by_key(desired_records(s, "example.com", KEYS))
    assert got[("_pop3._tcp.example.com", "SRV")] == ("0 0 0 .",)
    assert got[("_pop3s._tcp.example.com", "SRV")] == ("0 0 0 .",)
    assert got[("_imap._tcp.example.com", "SRV")] == ("0 0 0 .",)
    assert got[("_imaps._tcp.example.com", "SRV")] == ("0 1 993 mail.example.com.",)


def test_features_off_remove_their_records():
    s = make_settings(
        features={"spf": False, "dmarc": False, "dkim": False},
        dns={"srv": False, "autoconfig": False, "tls_rpt": False, "caa": False},
    )
    got = by_key(desired_records(s, "example.com", KEYS))
    assert sorted(got) == [("example.com", "MX"), ("mail.example.com", "A")]


def test_missing_address_is_one_clear_error():
    with pytest.raises(
        InputError, match=r"no address for the A record of mail.example.com: set mailserver.dns.public_ipv4"
    ):
        desired_records(make_settings(), "example.com", Keys())


def test_long_dkim_value_is_split_into_255_byte_strings():
    value = "v=DKIM1; k=rsa; p=" + "B" * 600
    rr = by_key(desired_records(make_settings(), "example.com", Keys(dkim={"mail": value}, ipv4="192.0.2.1")))
    txt = rr[("mail._domainkey.example.com", "TXT")][0]
    strings = txt_strings(txt)
    assert [len(s) for s in strings] == [255, 255, 108]
    assert b"".join(strings).decode() == value


def test_ed25519_second_selector_record():
    keys = Keys(dkim={"mail": "v=DKIM1; k=rsa; p=AAAA", "mail-ed": "v=DKIM1; k=ed25519; p=BBBB"}, ipv4="192.0.2.1")
    got = by_key(desired_records(make_settings(), "example.com", keys))
    assert got[("mail-ed._domainkey.example.com", "TXT")] == ('"v=DKIM1; k=ed25519; p=BBBB"',)


def test_mta_sts_id_changes_with_the_policy():
    testing = make_settings(dns={"mta_sts": "testing"})
    enforce = make_settings(dns={"mta_sts": "enforce"})
    t = by_key(desired_records(testing, "example.com", KEYS))[("_mta-sts.example.com", "TXT")][0]
    e = by_key(desired_records(enforce, "example.com", KEYS))[("_mta-sts.example.com", "TXT")][0]
    assert t != e
    policy = mta_sts_policy(enforce, "example.com")
    assert policy == "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 604800\r\n"
    assert txt_text(e) == f"v=STSv1; id={mta_sts_id(policy)}"
    assert mta_sts_id(policy).isalnum() and len(mta_sts_id(policy)) <= 32


@pytest.mark.parametrize(
    ("ssl_type", "issuer", "expected"),
    [
        ("letsencrypt", "", ('0 issue "letsencrypt.org"',)),
        ("letsencrypt-staging", "", ('0 issue "letsencrypt.org"',)),
        ("zerossl", "", ('0 issue "sectigo.com"',)),
        ("acme", "", None),
        ("selfsigned", "", None),
        ("acme", "ca.example.net", ('0 issue "ca.example.net"',)),
    ],
)
def test_caa_follows_the_configured_ca(ssl_type, issuer, expected):
    s = make_settings(ssl={"type": ssl_type}, dns={"caa_issuer": issuer})
    assert by_key(desired_records(s, "example.com", KEYS)).get(("mail.example.com", "CAA")) == expected


def test_tlsa_only_when_dnssec_is_declared():
    digest = hashlib.sha256(b"spki").hexdigest()
    keys = Keys(ipv4="192.0.2.1", tlsa_sha256=digest)
    assert ("_25._tcp.mail.example.com", "TLSA") not in by_key(desired_records(make_settings(), "example.com", keys))
    s = make_settings(dns={"dnssec": True})
    assert by_key(desired_records(s, "example.com", keys))[("_25._tcp.mail.example.com", "TLSA")] == (
        f"3 1 1 {digest}",
    )


def test_hostname_as_fqdn_outside_the_domain():
    s = make_settings(main={"hostname": "mx1.example.net"})
    got = by_key(desired_records(s, "example.com", KEYS))
    assert got[("example.com", "MX")] == ("10 mx1.example.net.",)
    assert got[("mx1.example.net", "A")] == ("192.0.2.10",)


@pytest.mark.parametrize(
    "bad",
    [
        "a" * 64 + ".example.com",
        "bad..example.com",
        "sp ace.example.com",
        "x." * 127 + "com",
        "-lead.example.com",
    ],
)
def test_bad_names_are_refused(bad):
    with pytest.raises(InputError, match="DNS name"):
        check_name(bad)


@pytest.mark.parametrize(
    ("rtype", "given", "canonical"),
    [
        ("MX", "10   MAIL.Example.com", "10 mail.example.com."),
        ("SRV", "0 1 993 Mail.example.com.", "0 1 993 mail.example.com."),
        ("CNAME", "mail.example.com", "mail.example.com."),
        ("CAA", '0 ISSUE "letsencrypt.org"', '0 issue "letsencrypt.org"'),
        ("TLSA", "3 1 1 ABCD EF", "3 1 1 abcdef"),
        ("AAAA", "2001:DB8:0::1", "2001:db8::1"),
        ("TXT", "v=spf1 mx ~all", '"v=spf1 mx ~all"'),
        ("TXT", '"v=spf1 " "mx ~all"', '"v=spf1 mx ~all"'),
    ],
)
def test_values_from_any_provider_normalize_equal(rtype, given, canonical):
    assert normalize(rtype, given) == canonical


def test_txt_quote_escapes_and_round_trips():
    text = 'a "quoted" \\ back; ü'
    assert txt_text(txt_quote(text)) == text
    assert txt_quote("") == '""'


def test_txt_tags():
    assert txt_tag('"v=spf1 mx ~all"') == "v=spf1"
    assert txt_tag('"v=DMARC1; p=none"') == "v=DMARC1"
    assert txt_tag('"v=spf10"') is None
    assert txt_tag('"google-site-verification=abc"') is None


def test_zone_lines():
    rr = RRset.make("Example.com.", "mx", 60, ["10 mail.example.com"])
    assert rr.zone_lines() == ["example.com. 60 IN MX 10 mail.example.com."]


def test_relative_and_absolute_owner_names():
    from secumail.dns.records import absolute, relative

    assert relative("example.com", "example.com") == "" and relative("example.com", "example.com", "@") == "@"
    assert relative("_dmarc.example.com", "example.com", "@") == "_dmarc"
    with pytest.raises(InputError, match="outside the zone example.com"):
        relative("example.org", "example.com")
    assert [absolute(n, "example.com") for n in ("@", "", "www", "www.example.com.", "example.com")] == [
        "example.com",
        "example.com",
        "www.example.com",
        "www.example.com",
        "example.com",
    ]


def test_spf_includes_what_the_relay_needs():
    settings = make_settings(dns={"spf_include": ("spf.isp.example", "_spf.other.example")})
    got = by_key(desired_records(settings, "example.com", KEYS))
    assert got[("example.com", "TXT")] == ('"v=spf1 mx include:spf.isp.example include:_spf.other.example ~all"',)


def test_a_bad_spf_include_is_one_line_naming_the_option():
    from secumail.config.settings import default_package, settings_from_package
    from secumail.errors import ConfigError

    package = default_package()
    package["dns"]["spf_include"] = ("include:spf.isp.example", "ip4:192.0.2.1")
    with pytest.raises(ConfigError, match=r"^mailserver.dns.spf_include: '.*ip4:192.0.2.1' is not a domain name for"):
        settings_from_package(package)
    package["dns"]["spf_include"] = ("include:spf.isp.example",)
    assert settings_from_package(package).dns.spf_include == ("spf.isp.example",)
