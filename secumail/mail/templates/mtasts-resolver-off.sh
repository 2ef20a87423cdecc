# features.mta_sts_outbound is off: no MTA-STS resolver (Postfix does not ask it).
if running /run/mta-sts.pid; then kill "$(cat /run/mta-sts.pid)"; fi
