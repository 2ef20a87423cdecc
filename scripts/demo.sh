#!/bin/sh
# Bring secumail up on this host with the demo domain demo.test (Debian/Ubuntu, as root).
# Called by `make demo`; PYTHON is the project's virtualenv interpreter. Uses the real
# /etc/config/mailserver, data in /srv/mailserver and the container in /srv/lxc, as on a router.
set -eu
PYTHON=${PYTHON:-python3}
mailctl() { "$PYTHON" -m secumail.cli "$@"; }
DOMAIN=demo.test
USER_ADDR=demo@$DOMAIN

echo "== 1/5 configuring $DOMAIN in /etc/config/mailserver"
mailctl config set mailserver.main.domain "$DOMAIN"
mailctl config set mailserver.main.hostname mail
# sized for what is on (Rspamd with the spam filter); a config left by an older demo may say 256
mailctl config set mailserver.container.memory auto

echo "== 2/5 installing: image (built once, about a minute), container, checked config, services"
mailctl install

echo "== 3/5 adding the demo mailbox $USER_ADDR"
PASSWORD=$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(12))')
if mailctl --json user list | grep -q "\"$USER_ADDR\""; then
	printf '%s\n' "$PASSWORD" | mailctl user passwd "$USER_ADDR" --password-stdin
else
	printf '%s\n' "$PASSWORD" | mailctl user add "$USER_ADDR" --password-stdin
fi

echo "== 4/5 sending a test message and reading it back over IMAPS"
mailctl test "$USER_ADDR"
ADDRESS=$(mailctl config get mailserver.container.address | cut -d/ -f1)
printf '%s\n' "$PASSWORD" | "$PYTHON" scripts/imap-check.py "$ADDRESS" "$USER_ADDR"

echo "== 5/5 starting the agent (secumaild: keeps the container up, renews certificates, backs up) and status"
"$PYTHON" -c 'from secumail.daemon.launcher import ensure_daemon_running as up; i = up(); print("secumaild", i.get("pid", ""), "running")'

mailctl status
echo
echo "The demo mailbox is $USER_ADDR with password $PASSWORD (IMAPS $ADDRESS:993, submission 587)."
echo "Stop the agent and the container with: make demo-stop"
