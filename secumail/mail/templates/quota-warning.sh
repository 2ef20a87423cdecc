#!/bin/sh
# Called by Dovecot's quota-warning service as vmail: $1 = percent (or "below"), $2 = user.
percent="$1"
user="$2"
[ "$percent" = below ] && exit 0
cat <<MSG | /usr/lib/dovecot/dovecot-lda -d "$user" -o "plugin/quota=maildir:User quota:noenforcing"
From: {{postmaster}}
To: $user
Subject: Your mailbox is $percent% full
Auto-Submitted: auto-generated
Content-Type: text/plain; charset=utf-8

Your mailbox $user on {{fqdn}} is $percent% full.
When it is full, new mail is returned to its senders.
Delete old messages (and empty the Trash) to make room.
MSG
