#!/bin/sh
# Install this config generation into /etc and make every service use it: start what is not
# running, reload what is. Run by the start script and by 'deploy' after the checks passed.
set -eu
GEN={{generation}}
DATA={{data}}
# The vmail account (uid/gid {{uid}}) owns all mail; created here so any image works.
getent group vmail >/dev/null || groupadd -g {{gid}} vmail
getent passwd vmail >/dev/null || useradd -u {{uid}} -g {{gid}} -d "$DATA/home" -M -s /usr/sbin/nologin vmail
install -d -o {{uid}} -g {{gid}} -m 0700 "$DATA/mail" "$DATA/home"
mkdir -p /var/log
# Dovecot reads the mount table (mount points of mail dirs); a debootstrap rootfs may lack it.
[ -e /etc/mtab ] || ln -s /proc/self/mounts /etc/mtab
# config/ is read-only here: the agent gives config/users Dovecot's group (secumail.appliance.ownership.hand_over).
put() {  # copy, then rename: a daemon never reads half a file
    cp "$1" "$2.secumail-new"
    chmod "$3" "$2.secumail-new"
    mv -f "$2.secumail-new" "$2"
}
put "$GEN/postfix/main.cf" /etc/postfix/main.cf 0644
put "$GEN/postfix/master.cf" /etc/postfix/master.cf 0644
put "$GEN/dovecot/dovecot.conf" /etc/dovecot/dovecot.conf 0644
# Smarthost passwords (secumail.mail.relay): root's alone; Postfix's SMTP client opens the map as
# root before it drops privileges. Written from data_path/relay by the agent, never from the generation.
install -d -o root -g root -m 0700 /etc/postfix/sasl
if [ -f "$DATA/relay/sasl_passwd" ]; then
    install -o root -g root -m 0600 "$DATA/relay/sasl_passwd" /etc/postfix/sasl/relay_passwd
else
    rm -f /etc/postfix/sasl/relay_passwd
fi
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
# Daemons must not keep our stdout/stderr: whoever runs this (lxc-attach) waits for them to close.
launch() {
    if ! "$@" </dev/null >/var/log/secumail-launch.log 2>&1; then
        cat /var/log/secumail-launch.log >&2
        exit 1
    fi
}
stop_pid() {  # stop the daemon of pid file $1 and wait for it (at most 20 s)
    if running "$1"; then
        pid="$(cat "$1")"
        kill "$pid"
        n=0
        while kill -0 "$pid" 2>/dev/null && [ $n -lt 200 ]; do sleep 0.1; n=$((n + 1)); done
    fi
    rm -f "$1"
}
{{dkim_block}}
{{ratelimit_block}}
{{spam_block}}
{{light_block}}
{{virus_block}}
{{mtasts_block}}
{{web_block}}
if postfix status >/dev/null 2>&1; then launch postfix reload; else launch postfix start; fi
if running /run/dovecot/master.pid; then launch doveadm reload; else launch dovecot; fi
# After Dovecot: Radicale's logins go to its auth socket.
{{dav_block}}
