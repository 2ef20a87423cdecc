#!/bin/sh
# secumail container start (run as root inside the container at boot, via /etc/secumail/start).
# Installs the live config and starts Postfix, Dovecot{{and_opendkim}}: the live generation's
# reload script does it all (it starts what is not running).
set -u
# The container's init runs this with an empty environment: without PATH, Dovecot does not start.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
DATA={{data}}
# A container's /run survives restarts on some setups: stale pid files stop Dovecot from starting.
rm -f /run/dovecot/master.pid /run/opendkim/opendkim.pid
exec "$DATA/config/live/container/reload"
