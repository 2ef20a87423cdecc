#!/bin/sh
# secumail container stop (run at halt, via /etc/secumail/stop).
postfix stop 2>/dev/null
doveadm stop 2>/dev/null
if [ -f /run/opendkim/opendkim.pid ]; then kill "$(cat /run/opendkim/opendkim.pid)" 2>/dev/null; fi
if [ -f /run/opendmarc/opendmarc.pid ]; then kill "$(cat /run/opendmarc/opendmarc.pid)" 2>/dev/null; fi
if [ -f /run/rspamd/rspamd.pid ]; then kill "$(cat /run/rspamd/rspamd.pid)" 2>/dev/null; fi
if [ -f /run/redis/redis.pid ]; then kill "$(cat /run/redis/redis.pid)" 2>/dev/null; fi
for f in wait clamav-milter clamd freshclam; do
    if [ -f "/run/clamav/$f.pid" ]; then kill "$(cat "/run/clamav/$f.pid")" 2>/dev/null; fi
done
if [ -f /run/radicale/radicale.pid ]; then kill "$(cat /run/radicale/radicale.pid)" 2>/dev/null; fi
exit 0
