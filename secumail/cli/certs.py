"""mailctl ssl-setup|ssl-status: certificates by ACME DNS-01."""

from __future__ import annotations

import argparse

from secumail.cli.base import operation


def setup_text(data: dict) -> str:
    if data.get("result") == "unchanged":
        return data["message"]
    return (
        f"certificate for {', '.join(data['names'])} installed, valid until {data['not_after']}\n"
        f"services: {data['services']}"
    )


def status_text(data: dict) -> str:
    cert = data.get("certificate")
    lines = [f"source:        {data['source']}", f"names wanted:  {', '.join(data['names'])}"]
    if cert is None:
        lines.append("certificate:   none (run 'mailctl ssl-setup')")
    else:
        lines += [
            f"subject:       {cert['subject']}",
            f"names (SANs):  {', '.join(cert['sans'])}",
            f"issuer:        {cert['issuer']}",
            f"key type:      {cert['key_type']}",
            f"not after:     {cert['not_after']}",
            f"days left:     {data['days_left']}" + ("  (WARNING: renew soon)" if data["warning"] else ""),
        ]
        if data["missing_names"]:
            lines.append(f"missing names: {', '.join(data['missing_names'])} (run 'mailctl ssl-setup')")
    lines += [
        f"next renewal:  {data['next_renewal']}",
        f"last attempt:  {data['last_attempt'] or 'never'}",
        f"last error:    {data['last_error'] or 'none'}",
    ]
    return "\n".join(lines)


def register(sub: argparse._SubParsersAction) -> None:
    p = operation(sub, "ssl-setup", "ssl-setup", "obtain a certificate by ACME DNS-01 and install it", text=setup_text)
    p.add_argument("--force", action="store_true", help="get a new certificate even if the current one is fine")
    p.add_argument("--staging", action="store_true", help="use Let's Encrypt staging for this run (test setup)")
    p.add_argument("--no-reload", action="store_true", help="install the files but do not reload the services")
    operation(sub, "ssl-status", "ssl-status", "show the certificate, its expiry and the renewal state",
              text=status_text)
