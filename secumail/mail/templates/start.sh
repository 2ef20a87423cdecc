#!/bin/sh
# secumail container start (run as root inside the container at boot, via /etc/secumail/start).
# Installs the live config and starts Postfix, Dovecot{{and_opendkim}}: the live generation's
# reload script does it all (it starts what is not running).
set -u
# The container's init runs this with an empty environment: without PATH, Dovecot does not start.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
DATA={{data}}
# A container's /run survives restarts on some setups: stale pid files stop Dovecot from starting.
rm -f /run/dovecot/master.pid /run/opendkim/opendkim.pid /run/rspamd/rspamd.pid /run/redis/redis.pid \
    /run/opendmarc/opendmarc.pid /run/radicale/radicale.pid
rm -f /run/clamav/*.pid /run/lighttpd.pid /run/mta-sts.pid
# Postfix keeps its pid file in the queue, which now outlives the container: at boot nothing runs yet,
# and a stale pid that a new process happens to reuse would make 'postfix status' lie.
rm -f /var/spool/postfix/pid/master.pid
# The Postfix queue is data_path/spool, bind-mounted on /var/spool/postfix: it outlives the image (an
# empty one is filled by 'postfix start'). Another image may number postfix/postdrop differently:
# hand the queue to this image's ids, or qmgr could not read the waiting mail.
Q=/var/spool/postfix
if [ -d "$Q/active" ] && [ "$(stat -c %u "$Q/active")" != "$(id -u postfix)" ]; then
    for d in active bounce corrupt defer deferred flush hold incoming private saved trace; do
        if [ -d "$Q/$d" ]; then chown -R postfix "$Q/$d"; fi
    done
    for d in maildrop public; do
        if [ -d "$Q/$d" ]; then chown -R postfix:postdrop "$Q/$d"; fi
    done
fi
exec "$DATA/config/live/container/reload"
