'use strict';
'require view';
'require ui';
'require mailserver.common as ms';

/*
 * The first-run wizard: domain and host name, DNS provider with a
 * credentials test that changes nothing, the DNS plan shown before it is
 * applied, the container install and the certificate (jobs of secumaild,
 * followed with a progress bar), the first mailbox, then the client settings
 * with a QR code of the phone profile's address. The agent keeps the
 * progress, so the page resumes at the first step not done; a failed step
 * shows its reason and keeps the steps before it.
 */

var LABELS = {
	done: [ 'success', _('done') ],
	failed: [ 'warning', _('failed') ],
	pending: [ 'notice', _('to do') ]
};

function field(id, label, attrs) {
	return E('div', { 'class': 'cbi-value' }, [
		E('label', { 'class': 'cbi-value-title', 'for': id }, [ label ]),
		E('div', { 'class': 'cbi-value-field' }, [ E('input', Object.assign({ 'id': id, 'class': 'cbi-input-text' }, attrs || {})) ])
	]);
}

function value(id) {
	var el = document.getElementById(id);
	return (el && el.value.trim() !== '') ? el.value.trim() : undefined;
}

function short(values) {
	var text = (values && values.length) ? values.join(' | ') : '-';
	return text.length > 90 ? text.substring(0, 89) + '…' : text;
}

return view.extend({
	load: function() {
		return ms.fetch('setupStatus');
	},

	/* Re-read the progress and draw the page again (after every step). */
	reload: function() {
		return ms.fetch('setupStatus').then(L.bind(function(st) {
			var root = document.getElementById('ms-setup');
			root.parentNode.replaceChild(this.renderWizard(st), root);
		}, this));
	},

	box: function() {
		return document.getElementById('ms-setup-work');
	},

	/* Run a quick step; its error stays on the page (the state has its reason too). */
	step: function(method, args) {
		var box = this.box();
		box.innerHTML = '';
		box.appendChild(E('p', {}, [ E('em', { 'class': 'spinning' }, [ _('Working…') ]) ]));
		return ms.call.apply(ms, [ method ].concat(args)).then(L.bind(function(res) {
			return this.reload().then(function() { return res; });
		}, this), L.bind(function(err) {
			return this.reload().then(L.bind(function() {
				this.box().appendChild(ms.errorBox(err.message));
			}, this));
		}, this));
	},

	/* Run a long step as a job of secumaild (started first: on a new appliance it is not running yet). */
	job: function(method, args) {
		return ms.call('agentStart').then(L.bind(function() {
			return ms.runJob(method, args, this.box());
		}, this)).then(L.bind(this.reload, this), L.bind(function(err) {
			return this.reload().then(L.bind(function() {
				this.box().appendChild(ms.errorBox(err.message));
			}, this));
		}, this));
	},

	handleIdentity: function() {
		return this.step('setupIdentity', [ value('ms-setup-domain'), value('ms-setup-hostname') ]);
	},

	handleDns: function() {
		return this.step('setupDns', [ value('ms-setup-provider'), value('ms-setup-server'), value('ms-setup-zone'),
			value('ms-setup-credentials') ]);
	},

	handlePlan: function() {
		var box = this.box();
		box.innerHTML = '';
		box.appendChild(E('p', {}, [ E('em', { 'class': 'spinning' }, [ _('Asking the DNS provider what would change…') ]) ]));
		return ms.call('setupPlan').then(L.bind(function(plan) {
			return this.reload().then(L.bind(function() { this.showPlan(plan); }, this));
		}, this), L.bind(function(err) {
			return this.reload().then(L.bind(function() { this.box().appendChild(ms.errorBox(err.message)); }, this));
		}, this));
	},

	showPlan: function(res) {
		var box = this.box();
		box.innerHTML = '';
		box.appendChild(E('h4', {}, [ _('DNS plan: nothing has been changed yet') ]));
		if (res.zone_lines != null) {
			box.appendChild(E('p', {}, [ _('Add these records to your zone yourself:') ]));
			box.appendChild(E('pre', {}, [ (res.zone_lines || []).join('\n') || _('(nothing: every record is already published)') ]));
		}
		else
			box.appendChild(ms.table([ _('Action'), _('Name'), _('Type'), _('Value') ], (res.changes || []).map(function(c) {
				return [ c.action, c.name, c.type, short(c['new'] && c['new'].length ? c['new'] : c.old) ];
			}), _('Nothing to do: every record is published.')));
		(res.notes || []).forEach(function(n) { box.appendChild(E('p', {}, [ E('em', {}, [ n ]) ])); });
	},

	handleRecords: function() {
		return this.job('setupRecords', []);
	},

	handleInstall: function() {
		return this.job('setupInstall', []);
	},

	handleCertificate: function() {
		return this.job('setupCertificate', [ value('ms-setup-ssl-type'), value('ms-setup-acme-directory'),
			value('ms-setup-acme-ca'), value('ms-setup-acme-email') ]);
	},

	handleMailbox: function() {
		var pw = value('ms-setup-password'), again = value('ms-setup-password2');
		if (pw !== again) {
			this.box().innerHTML = '';
			this.box().appendChild(ms.errorBox(_('The two passwords differ.')));
			return Promise.resolve();
		}
		return this.step('setupMailbox', [ value('ms-setup-address'), pw, undefined ]);
	},

	handleFinish: function() {
		return ms.call('setupFinish', undefined).then(L.bind(function(res) {
			return this.reload().then(L.bind(function() { this.showClient(res); }, this));
		}, this), L.bind(function(err) {
			this.box().appendChild(ms.errorBox(err.message));
		}, this));
	},

	handleRestart: function() {
		if (!window.confirm(_('Start the setup again from the first step? What the steps did stays in place.')))
			return Promise.resolve();
		return this.step('setupReset', []);
	},

	/* The last page: what a mail client needs, and the phone profile as a QR code. */
	showClient: function(res) {
		var box = this.box();
		box.innerHTML = '';
		box.appendChild(E('div', { 'id': 'ms-setup-client' }, [
			E('h3', {}, [ _('Your mail server is ready') ]),
			E('p', {}, [ _('Mailbox %s on %s. The login is the full address.').format(res.address, res.host) ]),
			ms.table([ _('Protocol'), _('Server'), _('Port'), _('Security') ], (res.servers || []).map(function(s) {
				return [ s.protocol.toUpperCase(), res.host, String(s.port), s.tls == 'tls' ? 'TLS' : 'STARTTLS' ];
			})),
			E('p', {}, [ _('On an iPhone or iPad, scan this code to install the mail profile:') ]),
			E('img', { 'id': 'ms-setup-qr', 'alt': res.profile_url, 'width': 200, 'height': 200,
				'src': 'data:image/svg+xml;base64,' + window.btoa(res.qr_svg) }),
			E('p', {}, [ E('a', { 'href': res.profile_url, 'id': 'ms-setup-profile' }, [ res.profile_url ]) ])
		]));
	},

	renderStep: function(st) {
		var known = st.answers || {};
		switch (st.next) {
		case 'identity':
			return [
				E('p', {}, [ _('The mail domain (the part after @) and the name of this server in it.') ]),
				field('ms-setup-domain', _('Mail domain'), { 'placeholder': 'example.com', 'value': known.domain || '' }),
				field('ms-setup-hostname', _('Host name'), { 'value': known.hostname || 'mail' }),
				ms.button(_('Next'), 'apply', L.bind(this.handleIdentity, this))
			];
		case 'dns':
			return [
				E('p', {}, [ _('Where the domain\'s DNS records are kept. The credentials are tested with a read only; nothing is changed at the provider.') ]),
				field('ms-setup-provider', _('DNS provider'), { 'placeholder': 'rfc2136, cloudflare, hetzner, desec, manual…', 'value': known.provider || '' }),
				field('ms-setup-server', _('Server'), { 'placeholder': _('rfc2136 primary or API address (optional)'), 'value': known.server || '' }),
				field('ms-setup-zone', _('Zone'), { 'placeholder': _('found from the SOA when empty'), 'value': known.zone || '' }),
				field('ms-setup-credentials', _('Credentials'), { 'type': 'password', 'autocomplete': 'off',
					'placeholder': 'key_name=… key_secret=…  /  api_token=…' }),
				ms.button(_('Test and save'), 'apply', L.bind(this.handleDns, this))
			];
		case 'plan':
			return [
				E('p', {}, [ _('See what would change in DNS before anything is changed.') ]),
				ms.button(_('Show the DNS plan'), 'action', L.bind(this.handlePlan, this))
			];
		case 'records':
			return [
				E('p', {}, [ _('Publish the records of the plan shown below.') ]),
				ms.button(_('Apply the DNS plan'), 'apply', L.bind(this.handleRecords, this)), ' ',
				ms.button(_('Show the plan again'), 'action', L.bind(this.handlePlan, this))
			];
		case 'install':
			return [
				E('p', {}, [ _('Build the container image and start Postfix and Dovecot. This takes a few minutes.') ]),
				ms.button(_('Install'), 'apply', L.bind(this.handleInstall, this))
			];
		case 'certificate':
			return [
				E('p', {}, [ _('Get the TLS certificate by ACME DNS-01. Leave the fields empty to keep the settings (Let\'s Encrypt by default).') ]),
				field('ms-setup-ssl-type', _('Source'), { 'placeholder': 'letsencrypt, acme, selfsigned…' }),
				field('ms-setup-acme-directory', _('ACME directory'), { 'placeholder': 'https://…' }),
				field('ms-setup-acme-ca', _('CA bundle of the ACME server'), { 'placeholder': '/etc/ssl/…' }),
				field('ms-setup-acme-email', _('Contact address'), {}),
				ms.button(_('Get the certificate'), 'apply', L.bind(this.handleCertificate, this))
			];
		case 'mailbox':
			return [
				field('ms-setup-address', _('Address'), { 'value': known.address || ('@' + (known.domain || '')) }),
				field('ms-setup-password', _('Password'), { 'type': 'password', 'autocomplete': 'new-password' }),
				field('ms-setup-password2', _('Password (again)'), { 'type': 'password', 'autocomplete': 'new-password' }),
				ms.button(_('Create the mailbox'), 'apply', L.bind(this.handleMailbox, this))
			];
		case 'finish':
			return [ ms.button(_('Show the client settings'), 'apply', L.bind(this.handleFinish, this)) ];
		default:
			return [
				E('p', {}, [ _('The setup is complete.') ]),
				ms.button(_('Show the client settings'), 'action', L.bind(this.handleFinish, this))
			];
		}
	},

	renderWizard: function(st) {
		if (st.error)
			return E('div', { 'id': 'ms-setup' }, [ ms.errorBox(st.error) ]);
		var rows = (st.steps || []).map(function(row, i) {
			var label = LABELS[row.status] || LABELS.pending;
			return [ String(i + 1), row.title, E('span', { 'class': 'label ' + label[0] }, [ label[1] ]),
				row.reason ? E('span', { 'class': 'ms-setup-reason' }, [ row.reason ]) : '' ];
		});
		return E('div', { 'id': 'ms-setup' }, [
			ms.table([ '#', _('Step'), _('State'), _('What to fix') ], rows),
			E('div', { 'class': 'cbi-section', 'id': 'ms-setup-step', 'data-step': st.next || 'complete' },
				ms.writable() ? this.renderStep(st) : [ ms.readOnlyNote() ]),
			E('div', { 'id': 'ms-setup-work' }),
			E('p', {}, [ ms.button(_('Start over'), 'reset', L.bind(this.handleRestart, this)) ])
		]);
	},

	render: function(st) {
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('Mail server setup') ]),
			E('div', { 'class': 'cbi-map-descr' }, [
				_('Set up the mail server step by step. Each step is kept: you can leave and come back, and a failed step says what to fix.')
			]),
			this.renderWizard(st)
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
