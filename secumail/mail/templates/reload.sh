#!/bin/sh
# Install this config generation into /etc and make every service use it: start what is not
# running, reload what is. Run by the start script and by 'deploy' after the checks passed.
set -eu
GEN={{generation}}
DATA={{data}}
put() {  # copy, then rename: a daemon never reads half a file
    cp "$1" "$2.secumail-new"
    chmod "$3" "$2.secumail-new"
    mv -f "$2.secumail-new" "$2"
}
put "$GEN/postfix/main.cf" /etc/postfix/main.cf 0644
put "$GEN/postfix/master.cf" /etc/postfix/master.cf 0644
put "$GEN/dovecot/dovecot.conf" /etc/dovecot/dovecot.conf 0644
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
{{dkim_block}}
if postfix status >/dev/null 2>&1; then postfix reload; else postfix start; fi
if running /run/dovecot/master.pid; then doveadm reload; else dovecot; fi
