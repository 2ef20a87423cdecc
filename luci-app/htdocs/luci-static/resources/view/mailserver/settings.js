'use strict';
'require view';
'require form';
'require uci';
'require ui';
'require mailserver.common as ms';
'require mailserver.validate as V';

/*
 * Settings: every section and option of /etc/config/mailserver, with the
 * agent's own validation (secumail/config/settings.py; the unit tests check
 * that this form lists every option with its default).
 */

var PORTS = [ 'smtp', 'submission', 'smtps', 'imap', 'imaps', 'pop3', 'pop3s', 'sieve', 'dav' ];

function check(fn) {
	return V.option(fn);
}

/* Each enabled port once: settings.py refuses two services on one port. */
function portCheck(required) {
	return function(section_id, value) {
		var res = required ? V.port(value) : V.optionalPort(value);
		if (res !== true)
			return '%s %s'.format(JSON.stringify(String(value)), res);
		var n = +String(value).trim();
		if (!n)
			return true;
		for (var i = 0; i < PORTS.length; i++) {
			if (PORTS[i] == this.option)
				continue;
			var other = this.section.formvalue(section_id, PORTS[i]);
			if (other != null && +String(other).trim() == n)
				return _('%d is already used by mailserver.ports.%s').format(n, PORTS[i]);
		}
		return true;
	};
}

function flag(s, name, title, dflt, descr) {
	var o = s.option(form.Flag, name, title, descr);
	o.default = dflt;
	o.rmempty = false;
	return o;
}

function value(s, name, title, dflt, validator, descr) {
	var o = s.option(form.Value, name, title, descr);
	o.default = dflt;
	o.placeholder = dflt;
	if (validator)
		o.validate = check(validator);
	return o;
}

function choice(s, name, title, dflt, choices, descr) {
	var o = s.option(form.ListValue, name, title, descr);
	choices.forEach(function(c) { o.value(c); });
	o.default = dflt;
	o.validate = check(V.choice(choices));
	return o;
}

function list(s, name, title, validator, descr) {
	var o = s.option(form.DynamicList, name, title, descr);
	o.validate = check(V.optional(validator));
	return o;
}

return view.extend({
	load: function() {
		return Promise.all([ uci.load('mailserver'), ms.fetch('listRelays') ]);
	},

	/* Save & Apply, Save and Reset only for a login that may write (LuCI would show them disabled) */
	addFooter: function() {
		return ms.writable() ? this.super('addFooter', arguments) : E('div');
	},

	/* The relay's password (never in UCI): relayAdd with the saved section's values and the new password. */
	relayPassword: function(relay) {
		var pw1 = E('input', { 'type': 'password', 'class': 'cbi-input-text' });
		var pw2 = E('input', { 'type': 'password', 'class': 'cbi-input-text' });
		ui.showModal(_('Password for relay %s').format(relay.name), [
			E('p', {}, [ _('Stored on the router in a file only root can read; never in /etc/config.') ]),
			E('p', {}, [ _('Password'), ' ', pw1 ]),
			E('p', {}, [ _('Password (again)'), ' ', pw2 ]),
			E('div', { 'class': 'right' }, [
				E('button', { 'class': 'btn', 'click': ui.hideModal }, [ _('Cancel') ]), ' ',
				E('button', { 'class': 'btn cbi-button-action', 'click': function() {
					if (pw1.value !== pw2.value)
						return ui.addNotification(null, E('p', {}, [ _('The two passwords differ; nothing was changed.') ]), 'danger');
					ui.hideModal();
					return ms.call('relayAdd', relay.name, relay.host, relay.port, relay.tls, relay.user,
						relay.sender_domain.length ? relay.sender_domain : undefined, !relay.verify, pw1.value)
						.then(function() { window.location.reload(); }, ms.notifyError);
				} }, [ _('Save') ])
			])
		]);
	},

	relayRows: function(res) {
		if (res && res.error)
			return ms.errorBox(res.error);
		var self = this;
		return ms.table([ _('Relay'), _('Server'), _('Sender domains'), _('Password'), '' ], ms.list(res).map(function(r) {
			var result = E('span', {});
			return [ r.name, '[%s]:%d (%s)'.format(r.host, r.port, r.tls), r.sender_domain.join(', ') || _('(default)'),
				r.password_stored ? _('stored') : _('missing'),
				E('span', {}, [
					ms.button(_('Set password…'), 'action', function() { return self.relayPassword(r); }), ' ',
					E('button', { 'class': 'cbi-button', 'click': ui.createHandlerFn(self, function() {
						return ms.fetch('relayTest', r.name).then(function(reply) {
							var rows = ms.list(reply);
							result.textContent = reply.error || (rows.length ? rows[0].message : '');
						});
					}) }, [ _('Test login') ]), ' ',
					ms.button(_('Delete'), 'remove', function() {
						return ms.call('relayDel', r.name).then(function() { window.location.reload(); }, ms.notifyError);
					}), ' ', result
				]) ];
		}), _('No relay: mail goes straight to each recipient\'s MX.'));
	},

	render: function(data) {
		var m, s, o;

		m = new form.Map('mailserver', _('Mail Server settings'),
			_('Saved to /etc/config/mailserver; the agent applies them. Invalid values are refused here as the agent would refuse them.'));

		s = m.section(form.NamedSection, 'main', 'mailserver', _('General'));
		s.addremove = false;
		flag(s, 'enabled', _('Enabled'), '0', _('Run the mail server (the agent keeps the container up).'));
		value(s, 'hostname', _('Host name'), 'mail', V.hostName, _('Host label of the mail server (mail) or its FQDN.'));
		value(s, 'domain', _('Primary domain'), 'example.com', V.domain);
		value(s, 'postmaster', _('Postmaster mailbox'), 'postmaster', V.localPart, _('Receives postmaster and abuse mail.'));
		value(s, 'data_path', _('Data path'), '/srv/mailserver', V.absolutePath, _('All state: config/, mail/, ssl/, dkim/.'));
		value(s, 'container', _('Container name'), 'mailserver', V.nameWord);
		value(s, 'message_size_limit', _('Message size limit (MiB)'), '50', V.integer(1, 2048));
		choice(s, 'quota_full', _('Mail to a full mailbox'), 'bounce', [ 'bounce', 'defer' ],
			_('bounce: returned to the sender at once; defer: kept in the queue and retried for up to 5 days.'));
		value(s, 'log_size_limit', _('Log size limit (MiB)'), '1', V.integer(1, 64),
			_('mail.log and dovecot.log are rotated at this size; one old file is kept.'));

		s = m.section(form.NamedSection, 'ports', 'ports', _('Ports'), _('0 turns a service off (SMTP must stay on).'));
		s.addremove = false;
		o = value(s, 'smtp', _('SMTP'), '25');
		o.validate = portCheck(true);
		[ [ 'submission', _('Submission (STARTTLS)'), '587' ], [ 'smtps', _('Submission (TLS)'), '465' ],
		  [ 'imap', _('IMAP (STARTTLS)'), '143' ], [ 'imaps', _('IMAP (TLS)'), '993' ],
		  [ 'pop3', _('POP3 (STARTTLS)'), '110' ], [ 'pop3s', _('POP3 (TLS)'), '995' ],
		  [ 'sieve', _('ManageSieve'), '4190' ], [ 'dav', _('Calendars and contacts (TLS)'), '5232' ] ].forEach(function(p) {
			o = value(s, p[0], p[1], p[2]);
			o.validate = portCheck(false);
		});

		s = m.section(form.NamedSection, 'features', 'features', _('Features'));
		s.addremove = false;
		flag(s, 'spam_filter', _('Spam filter'), '1', _('Rspamd checks mail from other servers; spam goes to Junk.'));
		flag(s, 'virus_scan', _('Virus scan'), '0', _('ClamAV refuses mail carrying a virus; it needs about 1.3 GiB more memory and is refused on a smaller router.'));
		flag(s, 'dav', _('Calendars and contacts'), '0', _('CalDAV/CardDAV (Radicale) on the DAV port for every mailbox, with its password or an app password of scope dav.'));
		flag(s, 'dkim', _('DKIM signing'), '1');
		flag(s, 'mta_sts_outbound', _('Check other domains\' MTA-STS'), '0',
			_('Postfix honours the MTA-STS policies of the domains it sends to; about 48 MiB more memory.'));
		flag(s, 'dane', _('DANE'), '0',
			_('Postfix enforces TLSA records of DNSSEC-signed destinations; only with a validating resolver.'));
		flag(s, 'spf', _('Publish SPF'), '1');
		flag(s, 'dmarc', _('Publish DMARC'), '1');
		flag(s, 'fail2ban', _('Ban repeated authentication failures'), '1');
		value(s, 'fail2ban_maxretry', _('Failures before a ban'), '10', V.integer(1, 1000));
		value(s, 'fail2ban_findtime', _('Counting window (s)'), '600', V.integer(10, 86400));
		value(s, 'fail2ban_bantime', _('Ban time (s)'), '3600', V.integer(10, 2592000));
		list(s, 'fail2ban_ignoreip', _('Never ban (addresses or CIDR)'), V.text);
		list(s, 'fail2ban_logfile', _('Mail logs to follow'), V.absolutePath, _('Empty: the container\'s mail.log and dovecot.log.'));

		s = m.section(form.NamedSection, 'protection', 'protection', _('Protection'),
			_('DNS blocklists (postscreen, port 25) and the spam filter\'s thresholds.'));
		s.addremove = false;
		list(s, 'dnsbl', _('DNS blocklists'), V.dnsblSite,
			_('zone[=reply filter][*weight]; a negative weight allows. Empty: no lookups.'));
		value(s, 'dnsbl_threshold', _('Blocklist weight that refuses'), '3', V.integer(1, 100));
		flag(s, 'sender_checks', _('SPF, sender domain and DMARC checks'), '1',
			_('With the spam filter off: SPF fail and DMARC p=reject failures are refused on port 25.'));
		flag(s, 'greylisting', _('Greylisting'), '0', _('Doubtful mail is temp-failed once (Rspamd).'));
		value(s, 'junk_score', _('Junk from score'), '6', V.decimal(0, 1000));
		value(s, 'reject_score', _('Refuse from score'), '15', V.decimal(0, 1000));
		value(s, 'bayes_memory', _('Bayes memory (MiB)'), '32', V.integer(4, 4096));
		choice(s, 'learn', _('Learning from Junk moves'), 'global', [ 'global', 'user' ],
			_('global: one Bayes database for everyone; user: one per user.'));
		value(s, 'smtp_connection_rate', _('Connections per minute per client (port 25)'), '60',
			V.integer(0, 100000), _('Over it: 421, the client retries later. 0: no limit.'));
		value(s, 'smtp_message_rate', _('Messages per minute per client (port 25)'), '30',
			V.integer(0, 100000), _('Over it: 4xx, the sender retries later. 0: no limit.'));
		value(s, 'user_recipients_per_hour', _('Recipients per hour per user'), '200', V.integer(0, 100000),
			_('For logged-in users (submission, smtps); over it: 450 with the limit. 0: no limit.'));
		value(s, 'auth_failure_delay', _('Delay after a failed login (s)'), '2', V.integer(0, 15));
		flag(s, 'test_patterns', _('GTUBE test patterns'), '0', _('Only to try the filter: lets anyone skip it.'));

		s = m.section(form.NamedSection, 'ssl', 'ssl', _('Certificates'));
		s.addremove = false;
		choice(s, 'type', _('Certificate source'), 'letsencrypt',
			[ 'letsencrypt', 'letsencrypt-staging', 'zerossl', 'acme', 'openwrt-acme', 'selfsigned' ],
			_('"acme" uses the ACME directory below.'));

		s = m.section(form.NamedSection, 'acme', 'acme', _('ACME'));
		s.addremove = false;
		value(s, 'email', _('Account e-mail'), '', V.optional(V.email));
		value(s, 'directory', _('Directory URL'), '', V.optional(V.httpsUrl));
		value(s, 'ca_bundle', _('CA bundle'), '', V.optional(V.absolutePath));
		choice(s, 'key_type', _('Key type'), 'ec256', [ 'ec256', 'rsa2048' ]);
		value(s, 'eab_kid', _('EAB key id'), '', V.text, _('External account binding (ZeroSSL); the HMAC key stays in the secrets file.'));
		list(s, 'extra_names', _('Extra names'), V.domain);
		value(s, 'eab_hmac_file', _('EAB HMAC file'), '/etc/mailserver/acme-eab.secret', V.absolutePath);
		value(s, 'openwrt_dir', _('OpenWrt acme directory'), '/etc/ssl/acme', V.absolutePath);

		s = m.section(form.NamedSection, 'dkim', 'dkim', _('DKIM'));
		s.addremove = false;
		value(s, 'selector', _('Selector'), 'mail', V.nameWord);
		value(s, 'key_bits', _('RSA key bits'), '2048', V.integer(1024, 4096));
		flag(s, 'ed25519', _('Also sign with Ed25519'), '0');

		s = m.section(form.NamedSection, 'webmail', 'webmail', _('Webmail'));
		s.addremove = false;
		flag(s, 'enabled', _('Roundcube integration'), '0');
		value(s, 'container', _('Roundcube container'), 'secubox-webmail', V.nameWord);
		value(s, 'port', _('Roundcube port'), '8026', V.port);
		value(s, 'password_port', _('Password change port'), '8027', V.optionalPort,
			_('secumaild listens here on the bridge for the webmail container only (Settings > Password); 0: off.'));

		s = m.section(form.NamedSection, 'mesh', 'mesh', _('Mesh backup'));
		s.addremove = false;
		flag(s, 'enabled', _('Enabled'), '0', _('Back up to, and hold backups for, pinned mesh peers.'));
		list(s, 'backup_peers', _('Backup peers (node ids)'), V.nodeId);
		value(s, 'sync_interval', _('Sync interval (s)'), '3600', V.integer(60, 604800));
		value(s, 'port', _('SFTP port'), '7022', V.port);
		list(s, 'listen', _('SFTP listen addresses'), V.ipAddress, _('Empty: every address.'));
		flag(s, 'discovery', _('Zeroconf discovery'), '1');
		value(s, 'user', _('Serve peers as user'), 'nobody', V.nameWord, _('Empty: as root.'));
		value(s, 'bwlimit', _('Bandwidth limit (KiB/s)'), '0', V.integer(0, null), _('0 is unlimited.'));
		value(s, 'peer_quota', _('Space for each peer (MiB)'), '10240', V.integer(0, null), _('What each peer may store here; 0: none.'));

		s = m.section(form.NamedSection, 'backup', 'backup', _('Backup retention'));
		s.addremove = false;
		value(s, 'keep_last', _('Keep last'), '7', V.integer(1, 1000));
		value(s, 'keep_daily', _('Keep daily'), '7', V.integer(0, 1000));
		value(s, 'keep_weekly', _('Keep weekly'), '4', V.integer(0, 1000));
		value(s, 'keep_monthly', _('Keep monthly'), '6', V.integer(0, 1000));

		s = m.section(form.NamedSection, 'alerts', 'alerts', _('Alerts'),
			_('secumaild mails a problem when it appears and when it is resolved, once each.'));
		s.addremove = false;
		flag(s, 'enabled', _('Enabled'), '1');
		value(s, 'recipient', _('Recipient'), '', V.optional(V.email), _('Empty: the postmaster.'));
		choice(s, 'digest', _('Digest'), 'off', [ 'off', 'daily' ], _('daily: also one mail a day listing the open problems.'));
		value(s, 'interval', _('Check interval'), '15m', V.duration(60, 86400), _('Like 15m or 1h.'));

		s = m.section(form.NamedSection, 'container', 'container', _('Container'));
		s.addremove = false;
		choice(s, 'provisioner', _('Provisioner'), 'debian', [ 'debian', 'tarball', 'alpine' ]);
		value(s, 'suite', _('Debian suite'), 'bookworm', V.nameWord);
		value(s, 'arch', _('Architecture'), '', V.optional(V.nameWord), _('Empty: the host\'s.'));
		value(s, 'mirror', _('Package mirror'), '', V.optional(V.url));
		value(s, 'image', _('Image tarball'), '', V.optional(V.absolutePath));
		value(s, 'lxc_path', _('LXC path'), '/srv/lxc', V.absolutePath);
		value(s, 'memory', _('Memory limit (MiB)'), 'auto', V.memoryLimit,
			_('\'auto\': what the enabled features need (384 MiB with the spam filter, 256 without).'));
		value(s, 'cgroup', _('cgroup'), '', V.optional(V.cgroupPath),
			_('Made below this cgroup, the container counts against its limit (a budget shared with the agent). Empty: LXC\'s default.'));
		choice(s, 'network_mode', _('Network mode'), 'bridge', [ 'bridge', 'host' ]);
		value(s, 'bridge', _('Bridge'), 'br-mail', V.interfaceName);
		value(s, 'host_address', _('Bridge address'), '10.231.0.1/24', V.ipv4Interface);
		value(s, 'address', _('Container address'), '10.231.0.2/24', V.ipv4Interface);
		choice(s, 'gateway', _('Container default route'), 'auto', [ 'auto', 'none', 'host' ],
			_('"host": via the bridge address; "auto": host on OpenWrt, none elsewhere.'));
		list(s, 'nameservers', _('Container resolvers'), V.ipAddress,
			_('Empty: the bridge address (dnsmasq) on OpenWrt, none elsewhere.'));

		s = m.section(form.NamedSection, 'dns', 'dns', _('DNS'));
		s.addremove = false;
		value(s, 'provider', _('Provider'), 'manual', V.nameWord, _('rfc2136, powerdns, exec, manual, …'));
		value(s, 'credentials', _('Credentials file'), '/etc/mailserver/dns.secret', V.optional(V.absolutePath));
		value(s, 'zone', _('Zone'), '', V.optional(V.domain));
		value(s, 'server', _('Server'), '', V.text);
		value(s, 'ttl', _('TTL'), '3600', V.integer(60, 86400));
		value(s, 'public_ipv4', _('Public IPv4'), '', V.ipv4OrAuto,
			_('Empty: the address of the WAN interface; "auto": ask the address service (behind another NAT).'));
		flag(s, 'follow_wan', _('Follow the WAN address'), '0',
			_('Update the A record when the public address changes.'));
		value(s, 'wan_check_interval', _('WAN check interval (s)'), '300', V.integer(30, 86400));
		value(s, 'wan_interface', _('WAN interface'), 'wan', V.interfaceName);
		value(s, 'wan_ttl', _('A/AAAA TTL while following'), '300', V.integer(30, 86400));
		value(s, 'public_ip_url', _('Address service URL'), 'https://api.ipify.org', V.publicIpUrl);
		value(s, 'public_ipv6', _('Public IPv6'), '', V.optional(V.ipAddress));
		list(s, 'spf_include', _('SPF includes'), V.spfInclude,
			_('Domains whose SPF the published record includes, e.g. your relay\'s (include:spf.isp.example).'));
		choice(s, 'spf_policy', _('SPF policy'), '~all', [ '~all', '-all', '?all' ]);
		choice(s, 'dmarc_policy', _('DMARC policy'), 'none', [ 'none', 'quarantine', 'reject' ]);
		value(s, 'dmarc_rua', _('DMARC reports to'), '', V.optional(V.email));
		choice(s, 'mta_sts', _('MTA-STS'), 'none', [ 'none', 'testing', 'enforce' ],
			_('testing or enforce: the policy is published and served at https://mta-sts.<domain>/ (port 443).'));
		flag(s, 'tls_rpt', _('TLS-RPT'), '1');
		flag(s, 'caa', _('CAA'), '1');
		flag(s, 'srv', _('SRV records'), '1');
		flag(s, 'autoconfig', _('Autoconfig names'), '1');
		flag(s, 'dnssec', _('Zone is DNSSEC-signed (publish TLSA)'), '0');
		value(s, 'caa_issuer', _('CAA issuer'), '', V.optional(V.domain));
		value(s, 'script', _('Exec provider script'), '', V.optional(V.absolutePath));
		list(s, 'resolver', _('Resolvers for dns-check'), V.serverAddress);
		value(s, 'smtp_probe', _('Port 25 probe'), '', V.optional(V.host),
			_('A domain you send to (its MX) or a mail host: the DNS check tries port 25 there for one second.'));
		value(s, 'timeout', _('Timeout (s)'), '10', V.integer(1, 300));

		s = m.section(form.GridSection, 'peer', _('Pinned mesh peers'),
			_('Prefer the Mesh page to pin a peer: it shows the full node id to compare.'));
		s.addremove = ms.writable();  /* no Add/Delete for a read-only login */
		s.anonymous = false;
		o = s.option(form.Value, 'node_id', _('Node id'));
		o.rmempty = false;
		o.validate = check(V.nodeId);
		o = s.option(form.Value, 'address', _('Address'), _('Empty: the address discovery last saw.'));
		o.validate = check(V.optional(V.host));
		o = s.option(form.Value, 'port', _('Port'), _('Empty: the mesh SFTP port.'));
		o.placeholder = uci.get('mailserver', 'mesh', 'port') || '7022';
		o.validate = check(V.optional(V.port));

		/* Smarthosts: the password is never in UCI; 'mailctl relay add' (or relayAdd) stores it 0600. */
		s = m.section(form.GridSection, 'relay', _('Relays (smarthosts)'),
			_('Outbound mail through your provider\'s server, SASL only over TLS. A relay without sender domains is the default relayhost. Set its password and test the login under "Relay passwords and login test" below.'));
		s.addremove = ms.writable();  /* no Add/Delete for a read-only login */
		s.anonymous = false;
		o = s.option(form.Value, 'host', _('Host'));
		o.rmempty = false;
		o.validate = check(V.host);
		o = s.option(form.Value, 'port', _('Port'));
		o.placeholder = '587';
		o.default = '587';
		o.validate = function(section_id, value) {
			var res = V.port(value);
			if (res !== true)
				return '%s %s'.format(JSON.stringify(String(value)), res);
			if (+String(value).trim() == 465 && this.section.formvalue(section_id, 'tls') != 'tls')
				return _('465 is the TLS-wrapper port: set TLS mode "tls" (or port 587 for STARTTLS)');
			return true;
		};
		o = s.option(form.ListValue, 'tls', _('TLS mode'));
		o.value('starttls', _('STARTTLS (587)'));
		o.value('tls', _('TLS from the first byte (465)'));
		o.default = 'starttls';
		o.validate = check(V.choice([ 'starttls', 'tls' ]));
		o = s.option(form.Flag, 'verify', _('Check certificate'));
		o.default = '1';
		o.rmempty = false;
		o = s.option(form.Value, 'user', _('Login'));
		o.rmempty = false;
		o.validate = check(V.saslUser);
		o = s.option(form.DynamicList, 'sender_domain', _('Sender domains'),
			_('Only mail from these domains; empty: all mail (the default relayhost).'));
		o.validate = check(V.optional(V.domain));

		var rows = this.relayRows(data[1]);
		return m.render().then(function(node) {
			var note = ms.readOnlyNote();
			if (note)
				node.insertBefore(note, node.firstChild);
			node.appendChild(E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Relay passwords and login test') ]), rows ]));
			return node;
		});
	}
});
