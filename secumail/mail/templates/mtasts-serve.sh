# dns.mta_sts testing|enforce: lighttpd serves our MTA-STS policies on 443 with the appliance's
# certificate. Restarted when its config changed or a newer certificate was installed (renewal).
restart_web=no
cmp -s "$GEN/lighttpd/lighttpd.conf" /etc/lighttpd/secumail.conf || restart_web=yes
if [ -f /run/lighttpd.pid ] && [ "$DATA/ssl/fullchain.pem" -nt /run/lighttpd.pid ]; then restart_web=yes; fi
put "$GEN/lighttpd/lighttpd.conf" /etc/lighttpd/secumail.conf 0644
if [ "$restart_web" = yes ]; then stop_pid /run/lighttpd.pid; fi
running /run/lighttpd.pid || launch lighttpd -f /etc/lighttpd/secumail.conf
