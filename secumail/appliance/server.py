"""Operations on the server as a whole: install, start/stop, status, logs, test, queue, image."""

from __future__ import annotations

from typing import Any

from secumail.appliance.operations import Call


def _set_enabled(call: Call, enabled: bool) -> None:
    """The daemon keeps the container running iff main.enabled: start/stop must say so in UCI."""
    from secumail.config.uci_paths import set_value

    if call.settings.main.enabled != enabled:
        set_value(call.confdir, "mailserver.main.enabled", "1" if enabled else "0")
        call.reload()


def install(call: Call) -> dict[str, Any]:
    from secumail.appliance import lifecycle, lifelock, memfit

    call.warn(memfit.problem(call.settings))
    with lifelock.exclusive(call.settings):
        result = lifecycle.install(call.settings, call.progress)
    _set_enabled(call, True)
    return result


def start(call: Call) -> dict[str, Any]:
    from secumail.appliance import lifecycle, lifelock, memfit

    call.warn(memfit.problem(call.settings))
    _set_enabled(call, True)
    with lifelock.exclusive(call.settings):
        return lifecycle.start(call.settings, call.progress)


def update(call: Call, image: str | None, rollback: bool) -> dict[str, Any]:
    from secumail.appliance import lifelock
    from secumail.appliance import update as updates

    with lifelock.exclusive(call.settings):
        return updates.update(call.settings, image=image, rollback=bool(rollback), progress=call.progress)


def stop(call: Call) -> dict[str, Any]:
    from secumail.appliance import lifecycle, lifelock

    _set_enabled(call, False)
    with lifelock.exclusive(call.settings):
        return lifecycle.stop(call.settings)


def restart(call: Call) -> dict[str, Any]:
    from secumail.appliance import lifecycle, lifelock

    _set_enabled(call, True)
    with lifelock.exclusive(call.settings):
        return lifecycle.restart(call.settings, call.progress)


def configure(call: Call) -> dict[str, Any]:
    """Render Postfix/Dovecot/OpenDKIM config from the current UCI, check, swap, reload."""
    from secumail.appliance import lifecycle

    call.progress("rendering the mail configuration")
    return lifecycle.configure(call.settings)


def status(call: Call) -> dict[str, Any]:
    from secumail.appliance.status import collect_status

    return collect_status(call.settings)


def logs(call: Call, lines: int) -> list[str]:
    from secumail.appliance import logs as mail_log

    return mail_log.logs(call.settings, lines)


def send_test(call: Call, address: str, wait: float) -> Any:
    from secumail.appliance.operations import Reported
    from secumail.appliance.testmail import send_test as send

    result = send(call.settings, address, wait=wait)
    return result if result["status"] == "sent" else Reported(result, 1)


def image_export(call: Call, file: str) -> dict[str, Any]:
    from secumail.appliance.image import image_export as export

    return export(call.settings, file, call.progress)


def image_build(call: Call, file: str, arch: str | None) -> dict[str, Any]:
    from secumail.appliance.image import image_build as build

    return build(call.settings, file, arch or "", call.progress)


def image_import(call: Call, file: str) -> dict[str, Any]:
    from secumail.appliance.image import image_import as import_

    return import_(call.settings, file, call.progress)


def queue_list(call: Call) -> list[dict[str, Any]]:
    from secumail.appliance import queue

    return queue.queue_list(call.settings)


def queue_flush(call: Call) -> dict[str, Any]:
    from secumail.appliance import queue

    return queue.queue_flush(call.settings)


def queue_delete(call: Call, queue_id: str) -> dict[str, Any]:
    from secumail.appliance import queue

    return queue.queue_delete(call.settings, queue_id)


def queue_delete_all(call: Call) -> dict[str, Any]:
    from secumail.appliance import queue

    return queue.queue_delete(call.settings, "ALL")


def diagnose(call: Call) -> Any:
    """Every check with a hint (docs/operating.md); a failed check makes it a reported problem (exit 1)."""
    from secumail.appliance.diagnose import diagnose as run
    from secumail.appliance.operations import Reported

    report = run(call.settings, confdir=call.confdir)
    failed = [c["name"] for c in report["checks"] if c["status"] == "fail"]
    return report if not failed else Reported(report, 1, f"diagnose: failed: {', '.join(failed)}")


def charts(call: Call) -> dict[str, Any]:
    """Messages per hour (24 h) and per day (30 days), the queue, storage per mailbox (LuCI's Overview)."""
    from secumail.appliance.charts import collect

    return collect(call.settings)


def metrics(call: Call, textfile: str | None) -> dict[str, Any]:
    """The Prometheus text (and its metrics as JSON); with `textfile`, written there atomically."""
    from secumail.appliance import metrics as prom

    collected = prom.collect(call.settings)
    text = prom.render(collected)
    if textfile:
        prom.write_textfile(textfile, text)
    return {"text": text, "textfile": textfile, "metrics": prom.as_json(collected)}
