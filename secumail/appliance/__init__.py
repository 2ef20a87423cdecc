"""The appliance: the mail server as a whole, between the entry points and the feature packages.

mailctl, secumaild and the rpcd plugin call this layer; it composes the
container runtime (secumail.container, pure LXC) with the mail layer
(secumail.mail), and hands the mail layer what it needs of the container
(an executor and `hand_over`) instead of letting it reach up.

    operations.py   the operations table: name → function, argument schema, read/write, job
    schema.py       typed arguments (Arg) and their checks
    spec.py         the container from Settings: spec, rootfs, the Container, the running one
    ownership.py    the container's ids on data_path (hand_over, shift_data) and MailRuntime
    datadir.py      data_path's layout and the Postfix spool
    image.py        the rootfs: provision, hooks, export, import
    host.py         what the host provides the container: resolv.conf, firewall
    lifecycle.py    install, start, stop, restart, the SMTP banner wait
    logs.py, queue.py, testmail.py     the mail log, the Postfix queue, a test message
    accounts.py, records.py, certificates.py, backups.py, uciconfig.py
                    the operations of each feature, with the runtime handed in
"""
