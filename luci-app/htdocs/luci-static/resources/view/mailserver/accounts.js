'use strict';
'require view';
'require ui';
'require mailserver.common as ms';

/* Accounts: domains, mailboxes (with quota usage), app passwords (listed and revoked here; made with
   `mailctl user app-password add`, which shows the token once), aliases and catch-alls. */

function field(label, input) {
	return E('div', { 'class': 'cbi-value' }, [
		E('label', { 'class': 'cbi-value-title' }, [ label ]),
		E('div', { 'class': 'cbi-value-field' }, [ input ])
	]);
}

function input(id, type, placeholder) {
	return E('input', { 'id': id, 'type': type || 'text', 'class': 'cbi-input-text', 'placeholder': placeholder || '' });
}

function val(id) {
	var el = document.getElementById(id);
	return el ? el.value.trim() : '';
}

return view.extend({
	load: function() {
		return Promise.all([ ms.fetch('listDomains'), ms.fetch('listUsers'), ms.fetch('listAliases'),
			ms.fetch('listAppPasswords') ]);
	},

	reload: function() {
		return this.load().then(L.bind(function(data) {
			var old = document.getElementById('mailserver-accounts');
			old.parentNode.replaceChild(this.renderBody(data), old);
		}, this));
	},

	/* Run a write call, then refresh; failures show the agent's one-line reason. */
	act: function(promise) {
		return promise.then(L.bind(function() {
			ui.hideModal();
			return this.reload();
		}, this)).catch(function(err) {
			ui.addNotification(null, E('p', {}, [ err.message ]), 'danger');
		});
	},

	modal: function(title, fields, label, submit) {
		ui.showModal(title, fields.concat([
			E('div', { 'class': 'right' }, [
				E('button', { 'class': 'cbi-button', 'click': ui.hideModal }, [ _('Cancel') ]), ' ',
				E('button', { 'class': 'cbi-button cbi-button-positive', 'click': ui.createHandlerFn(this, submit) }, [ label ])
			])
		]));
	},

	addDomain: function() {
		this.modal(_('Add domain'), [ field(_('Domain'), input('ms-domain', 'text', 'example.org')) ], _('Add'), function() {
			return this.act(ms.runJob('domainAdd', [ val('ms-domain') ], null));
		});
	},

	delDomain: function(domain) {
		this.modal(_('Delete domain %s').format(domain), [
			E('p', {}, [ _('A domain that still has mailboxes is refused unless you also delete its accounts (stored mail is kept).') ]),
			field(_('Also delete its accounts'), E('input', { 'id': 'ms-force', 'type': 'checkbox' }))
		], _('Delete'), function() {
			return this.act(ms.runJob('domainDel', [ domain, document.getElementById('ms-force').checked ], null));
		});
	},

	addUser: function() {
		this.modal(_('Add mailbox'), [
			field(_('Address'), input('ms-address', 'text', 'alice@example.org')),
			field(_('Password'), input('ms-pw1', 'password')),
			field(_('Password (again)'), input('ms-pw2', 'password')),
			field(_('Quota'), input('ms-quota', 'text', _('e.g. 500M or 2G; empty: none')))
		], _('Add'), function() {
			var pw = document.getElementById('ms-pw1').value;
			if (pw !== document.getElementById('ms-pw2').value)
				return ui.addNotification(null, E('p', {}, [ _('The two passwords differ; nothing was changed.') ]), 'danger');
			return this.act(ms.call('userAdd', val('ms-address'), pw, val('ms-quota') || undefined));
		});
	},

	passwd: function(address) {
		this.modal(_('New password for %s').format(address), [
			field(_('Password'), input('ms-pw1', 'password')),
			field(_('Password (again)'), input('ms-pw2', 'password'))
		], _('Change'), function() {
			var pw = document.getElementById('ms-pw1').value;
			if (pw !== document.getElementById('ms-pw2').value)
				return ui.addNotification(null, E('p', {}, [ _('The two passwords differ; nothing was changed.') ]), 'danger');
			return this.act(ms.call('userPasswd', address, pw));
		});
	},

	quota: function(user) {
		this.modal(_('Quota of %s').format(user.address), [
			field(_('Quota'), E('input', { 'id': 'ms-quota', 'type': 'text', 'class': 'cbi-input-text', 'value': user.quota || '0' }))
		], _('Set'), function() {
			return this.act(ms.call('userQuota', user.address, val('ms-quota') || '0'));
		});
	},

	delUser: function(address) {
		this.modal(_('Delete mailbox %s').format(address), [
			field(_('Also delete the stored mail'), E('input', { 'id': 'ms-purge', 'type': 'checkbox' }))
		], _('Delete'), function() {
			return this.act(ms.call('userDel', address, document.getElementById('ms-purge').checked));
		});
	},

	addAlias: function(catchAll) {
		this.modal(catchAll ? _('Add catch-all') : _('Add alias'), [
			field(catchAll ? _('Domain') : _('Alias address'), input('ms-source', 'text', catchAll ? 'example.org' : 'info@example.org')),
			field(_('Deliver to'), input('ms-dest', 'text', _('one or more addresses, separated by spaces or commas')))
		], _('Add'), function() {
			var source = val('ms-source');
			if (catchAll && source.charAt(0) != '@')
				source = '@' + source;
			var dest = val('ms-dest').split(/[\s,]+/).filter(function(d) { return d; });
			return this.act(ms.call('aliasAdd', source, dest));
		});
	},

	revokeApp: function(app) {
		return this.act(ms.call('appPasswordDel', app.address, app.name));
	},

	delAlias: function(source) {
		return this.act(ms.call('aliasDel', source));
	},

	usage: function(user) {
		if (user.usage_percent == null)
			return ms.size(user.usage_bytes);
		return ms.progressBar(user.usage_percent, '%s (%d%%)'.format(ms.size(user.usage_bytes), user.usage_percent));
	},

	renderBody: function(data) {
		var self = this, w = ms.writable();
		var domains = data[0], users = data[1], aliases = data[2], apps = data[3];
		var actions = function(list) { return w ? E('div', {}, list) : ''; };
		var headers = function(list) { return w ? list.concat([ '' ]) : list; };
		var withActions = function(row, buttons) { return w ? row.concat([ actions(buttons) ]) : row; };

		return E('div', { 'id': 'mailserver-accounts' }, [
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Domains') ]),
				domains.error ? ms.errorBox(domains.error) : ms.table(headers([ _('Domain'), _('Primary'), _('Mailboxes'), _('Aliases') ]),
					ms.list(domains).map(function(d) {
						return withActions([ d.domain, d.primary ? _('yes') : '', d.users, d.aliases ], [
							d.primary ? '' : ms.button(_('Delete'), 'remove', L.bind(self.delDomain, self, d.domain))
						]);
					}), _('No domains yet')),
				ms.button(_('Add domain'), 'add', L.bind(this.addDomain, this))
			]),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Mailboxes') ]),
				users.error ? ms.errorBox(users.error) : ms.table(headers([ _('Address'), _('Quota'), _('Used') ]),
					ms.list(users).map(function(u) {
						/* a mailbox left behind when its domain was removed or the primary domain changed */
						var address = (u.domain_served === false) ? E('span', {}, [ u.address, ' ',
							E('span', { 'class': 'label warning', 'data-ms': 'unserved' }, [ _('domain not served: mail to it bounces') ]) ]) : u.address;
						return withActions([ address, u.quota, self.usage(u) ], [
							ms.button(_('Password'), 'edit', L.bind(self.passwd, self, u.address)), ' ',
							ms.button(_('Quota'), 'edit', L.bind(self.quota, self, u)), ' ',
							ms.button(_('Delete'), 'remove', L.bind(self.delUser, self, u.address))
						]);
					}), _('No mailboxes yet')),
				ms.button(_('Add mailbox'), 'add', L.bind(this.addUser, this))
			]),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('App passwords') ]),
				apps.error ? ms.errorBox(apps.error) : ms.table(headers([ _('Address'), _('Name'), _('For'), _('Created') ]),
					ms.list(apps).map(function(a) {
						return withActions([ a.address, a.name, (a.scopes || []).join(', '), a.created ], [
							ms.button(_('Revoke'), 'remove', L.bind(self.revokeApp, self, a))
						]);
					}), _('No app passwords yet.'))
			]),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Aliases and catch-alls') ]),
				aliases.error ? ms.errorBox(aliases.error) : ms.table(headers([ _('Alias'), _('Delivered to') ]),
					ms.list(aliases).map(function(a) {
						var source = a.catch_all ? '%s (%s)'.format(a.source, _('catch-all')) : a.source;
						return withActions([ source, (a.destinations || []).join(', ') ], [
							ms.button(_('Delete'), 'remove', L.bind(self.delAlias, self, a.source))
						]);
					}), _('No aliases yet')),
				ms.button(_('Add alias'), 'add', L.bind(this.addAlias, this, false)), ' ',
				ms.button(_('Add catch-all'), 'add', L.bind(this.addAlias, this, true))
			])
		]);
	},

	render: function(data) {
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('Mail accounts') ]),
			ms.readOnlyNote(),
			this.renderBody(data)
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
