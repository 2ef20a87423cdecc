"""IMAP import: copy an account of any IMAP server into a mailbox here, resumably (docs/import.md).

The modules, in the order data goes through them: `source.py` logs in to the old server (imaplib,
TLS verified), `folders.py` chooses and maps its folders, `destination.py` speaks IMAP to Dovecot
inside the container as the user (PREAUTH over a pipe the caller hands in), `engine.py` copies
batch by batch and keeps `state.py`'s file current, `progress.py` says how far it is. `wire.py`
and `mutf7.py` are the IMAP syntax both sides share; `secrets.py` keeps a sync job's password.
"""
