# features.virus_scan is off: no clamd, no clamav-milter, no freshclam.
for f in wait clamav-milter clamd freshclam; do
    if running "/run/clamav/$f.pid"; then kill "$(cat "/run/clamav/$f.pid")"; fi
done
