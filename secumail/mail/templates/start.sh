#!/bin/sh
# secumail container start (run as root inside the container at boot, via /etc/secumail/start).
# Prepares the vmail account and data directories, then installs the live config and starts
# Postfix, Dovecot{{and_opendkim}} (reload does both: it starts what is not running).
set -u
DATA={{data}}
getent group vmail >/dev/null || groupadd -g {{gid}} vmail
getent passwd vmail >/dev/null || useradd -u {{uid}} -g {{gid}} -d "$DATA/home" -M -s /usr/sbin/nologin vmail
install -d -o {{uid}} -g {{gid}} -m 0700 "$DATA/mail" "$DATA/home"
mkdir -p /var/log
# A container's /run survives restarts on some setups: stale pid files stop Dovecot from starting.
rm -f /run/dovecot/master.pid /run/opendkim/opendkim.pid
exec "$DATA/config/live/container/reload"
