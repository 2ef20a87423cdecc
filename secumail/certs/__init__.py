"""Certificates: ACME DNS-01 issuance, the files Postfix/Dovecot read, renewal.

The resident agent imports only the light modules here (paths, der, state,
policy, renewal, services, runner): they use the standard library alone. Everything
that needs `acme`, `josepy`, `cryptography` or `dnspython` (worker, acme_flow,
propagation, challenge, keys, sources) runs in a short-lived worker process,
`python -m secumail.certs.worker`, started by `runner.run_worker`.

Files (data_path/ssl, as the SecuBox mail server lays it out):
  fullchain.pem  certificate + chain, 0644       privkey.pem  its key, 0600
  state.json     renewal state (last attempt, error, next time, ARI window)
  acme/<ca>/account.key  ACME account key (EC P-256, 0600), account.json (its URL)
The account key lives under data_path, not /etc/mailserver, so that a mesh
backup restores it with the certificate it belongs to.
"""
