#!/bin/sh
# Called by Dovecot's quota-warning service as vmail: $1 = percent (or "below"), $2 = user.
percent="$1"
user="$2"
[ "$percent" = below ] && exit 0
# As vmail the LDA may not open /var/log/dovecot.log: its errors go to stderr,
# which Dovecot logs (an info line there would be marked as an error).
cat <<MSG | /usr/lib/dovecot/dovecot-lda -d "$user" -o log_path=/dev/stderr -o info_log_path=/dev/null \
    -o "plugin/quota=maildir:User quota:noenforcing"
From: {{postmaster}}
To: $user
Subject: Your mailbox is $percent% full
Auto-Submitted: auto-generated
Content-Type: text/plain; charset=utf-8

Your mailbox $user on {{fqdn}} is $percent% full.
When it is full, {{when_full}}.
Delete old messages (and empty the Trash) to make room.
MSG
