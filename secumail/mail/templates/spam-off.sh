# features.spam_filter is off: no Rspamd, no Redis.
if running /run/rspamd/rspamd.pid; then kill "$(cat /run/rspamd/rspamd.pid)"; fi
if running /run/redis/redis.pid; then kill "$(cat /run/redis/redis.pid)"; fi
