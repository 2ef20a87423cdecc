if running /run/opendkim/opendkim.pid; then kill "$(cat /run/opendkim/opendkim.pid)"; fi
