#!/bin/sh
# secumail container stop (run at halt, via /etc/secumail/stop).
postfix stop 2>/dev/null
doveadm stop 2>/dev/null
if [ -f /run/opendkim/opendkim.pid ]; then kill "$(cat /run/opendkim/opendkim.pid)" 2>/dev/null; fi
if [ -f /run/opendmarc/opendmarc.pid ]; then kill "$(cat /run/opendmarc/opendmarc.pid)" 2>/dev/null; fi
if [ -f /run/rspamd/rspamd.pid ]; then kill "$(cat /run/rspamd/rspamd.pid)" 2>/dev/null; fi
if [ -f /run/redis/redis.pid ]; then
    # Redis writes the Bayes database on its way out; the container dies with this script, so wait for it
    # (at most 10 s): killed mid-save, everything learned since the last hourly save was lost.
    pid="$(cat /run/redis/redis.pid)"
    kill "$pid" 2>/dev/null
    n=0
    while kill -0 "$pid" 2>/dev/null && [ "$n" -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
fi
for f in wait clamav-milter clamd freshclam; do
    if [ -f "/run/clamav/$f.pid" ]; then kill "$(cat "/run/clamav/$f.pid")" 2>/dev/null; fi
done
for f in /run/lighttpd.pid /run/mta-sts.pid; do
    if [ -f "$f" ]; then kill "$(cat "$f")" 2>/dev/null; fi
done
if [ -f /run/radicale/radicale.pid ]; then kill "$(cat /run/radicale/radicale.pid)" 2>/dev/null; fi
exit 0
