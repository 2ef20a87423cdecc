# lighttpd serves our MTA-STS policies and the client autoconfiguration on 443 with the appliance's
# certificate (secumail.mail.webserve). Restarted when its config changed or a newer certificate was
# installed (renewal). An image from before lighttpd was added lacks it: mail goes on, nothing is served.
if ! command -v lighttpd >/dev/null; then
    echo "lighttpd is not in this image (built before it was added): nothing served on 443" >&2
else
    restart_web=no
    cmp -s "$GEN/lighttpd/lighttpd.conf" /etc/lighttpd/secumail.conf || restart_web=yes
    if [ -f /run/lighttpd.pid ] && [ "$DATA/ssl/fullchain.pem" -nt /run/lighttpd.pid ]; then restart_web=yes; fi
    put "$GEN/lighttpd/lighttpd.conf" /etc/lighttpd/secumail.conf 0644
    if [ "$restart_web" = yes ]; then stop_pid /run/lighttpd.pid; fi
    # lighttpd opens its error log after it became www-data (a stripped image may lack the directory)
    install -d -o www-data -g www-data -m 0750 /var/log/lighttpd
    if ! running /run/lighttpd.pid && ! lighttpd -f /etc/lighttpd/secumail.conf </dev/null >/var/log/secumail-launch.log 2>&1; then
        cat /var/log/secumail-launch.log >&2
        tail -n 2 /var/log/lighttpd/error.log >&2  # why it did not start (certificate, port 443 taken, ...)
        exit 1
    fi
fi
