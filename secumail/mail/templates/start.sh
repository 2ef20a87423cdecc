#!/bin/sh
# secumail container start (run as root inside the container at boot, via /etc/secumail/start).
# Installs the live config and starts Postfix, Dovecot{{and_opendkim}}: the live generation's
# reload script does it all (it starts what is not running).
set -u
DATA={{data}}
# A container's /run survives restarts on some setups: stale pid files stop Dovecot from starting.
rm -f /run/dovecot/master.pid /run/opendkim/opendkim.pid
exec "$DATA/config/live/container/reload"
