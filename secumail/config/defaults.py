"""The default UCI text of package `mailserver`, rendered from the schema.

files/etc/config/mailserver is the commented copy that OpenWrt packages
install; a unit test keeps the two equal in content.
"""

from __future__ import annotations

from secumail.config.settings import SECTIONS


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def render_defaults() -> str:
    lines: list[str] = []
    for spec in SECTIONS:
        lines.append("")
        lines.append(f"config {spec.uci_type} {_quote(spec.uci_name)}")
        for name, value in spec.defaults_as_uci().items():
            if isinstance(value, tuple):
                lines.extend(f"\tlist {name} {_quote(item)}" for item in value)
            else:
                lines.append(f"\toption {name} {_quote(value)}")
    return "\n".join(lines) + "\n\n"


def render_reference() -> str:
    """Markdown tables of every section and option (the generated part of docs/configuration.md)."""
    out: list[str] = []
    for spec in SECTIONS:
        out.append(f"### `config {spec.uci_type} '{spec.uci_name}'`\n")
        out.append("| option | default | meaning |")
        out.append("| --- | --- | --- |")
        for name, field in spec.options().items():
            default = field.metadata["uci_default"]
            shown = " ".join(default) if isinstance(default, tuple) else default
            out.append(f"| `{name}` | `{shown}` | {field.metadata['doc']} |")
        out.append("")
    return "\n".join(out)
