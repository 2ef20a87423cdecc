# features.mta_sts_outbound: postfix-mta-sts-resolver answers Postfix's TLS policy lookups (socketmap on
# the loopback, port {{resolver_port}}); while it is down Postfix defers mail rather than sending it unchecked.
restart_sts=no
cmp -s "$GEN/mta-sts/mta-sts-daemon.yml" /etc/mta-sts-daemon.yml || restart_sts=yes
put "$GEN/mta-sts/mta-sts-daemon.yml" /etc/mta-sts-daemon.yml 0644
touch /var/log/mta-sts.log
chown _mta-sts:_mta-sts /var/log/mta-sts.log
if [ "$restart_sts" = yes ]; then stop_pid /run/mta-sts.pid; fi
if ! running /run/mta-sts.pid; then
    setsid sh -c 'echo $$ >/run/mta-sts.pid
        exec env HOME=/var/lib/mta-sts setpriv --reuid=_mta-sts --regid=_mta-sts --clear-groups \
            mta-sts-daemon -c /etc/mta-sts-daemon.yml -l /var/log/mta-sts.log' </dev/null >/dev/null 2>&1 &
    # (HOME: aiohttp looks for ~/.netrc, and root's is not readable.) Postfix's first lookup should find it
    # listening (a few seconds: Python loads aiohttp).
    if ! python3 -c 'import socket, sys, time
for _ in range(150):
    try:
        socket.create_connection(("127.0.0.1", {{resolver_port}}), 1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)'; then
        echo "the MTA-STS resolver did not start:" >&2
        tail -n 3 /var/log/mta-sts.log >&2
        exit 1
    fi
fi
