'use strict';
'require view';
'require ui';
'require mailserver.common as ms';

/*
 * Import: copy a mailbox of another IMAP server into one here, once (the secumaild job `import`,
 * followed with a progress bar) or as a sync job secumaild repeats (docs/import.md). The old
 * server's password goes in the call's JSON on stdin, never into UCI or an argv.
 */

function lines(text) {
	var found = (text || '').split(/\n/).map(function(line) { return line.trim(); }).filter(function(line) { return line; });
	return found.length ? found : undefined;
}

function lastRun(run) {
	if (!run)
		return _('never ran');
	if (!run.ok)
		return E('span', { 'class': 'label warning' }, [ _('failed: %s').format(run.error || '?') ]);
	return _('%d copied, %s').format(run.copied || 0, (run.finished || '').replace('T', ' ').substring(0, 19));
}

return view.extend({
	load: function() {
		return Promise.all([ ms.fetch('listImports'), ms.fetch('listUsers') ]);
	},

	showJob: function(name) {
		return ms.call('importShow', name).then(function(job) {
			ui.showModal(_('Import %s').format(name), [
				E('p', {}, [ '%s ← %s (%s)'.format(job.user, job.source, job.every) ]),
				ms.table([ _('Folder there'), _('Folder here'), _('Last UID copied'), _('Refused') ],
					(job.folders_copied || []).map(function(f) {
						return [ f.folder, f.target, String(f.last_uid), String((f.refused || []).length) ];
					})),
				E('div', { 'class': 'right' }, [ E('button', { 'class': 'btn', 'click': ui.hideModal }, [ _('Close') ]) ])
			]);
		}, ms.notifyError);
	},

	jobRows: function(res) {
		var self = this;
		if (res.error)
			return ms.errorBox(res.error);
		return ms.table([ _('Name'), _('Mailbox'), _('Old server'), _('Every'), _('Last run'), '' ], ms.list(res).map(function(j) {
			return [ j.name, j.user, j.source, j.every == 'once' ? _('once') : j.every, lastRun(j.last_run), E('span', {}, [
				E('button', { 'class': 'cbi-button', 'click': ui.createHandlerFn(self, 'showJob', j.name) }, [ _('Folders…') ]), ' ',
				ms.button(_('Delete'), 'remove', function() {
					return ms.call('importDel', j.name).then(function() { window.location.reload(); }, ms.notifyError);
				})
			]) ];
		}), _('No import yet.'));
	},

	values: function() {
		var get = function(id) { return document.getElementById(id).value.trim(); };
		return {
			user: get('ms-imp-user'), source: get('ms-imp-source'), every: get('ms-imp-every'),
			folders: lines(document.getElementById('ms-imp-folders').value),
			exclude: lines(document.getElementById('ms-imp-exclude').value),
			ca_file: get('ms-imp-ca') || undefined, insecure: document.getElementById('ms-imp-insecure').checked,
			password: document.getElementById('ms-imp-password').value
		};
	},

	handleOnce: function() {
		var v = this.values();
		var box = document.getElementById('ms-imp-job');
		return ms.runJob('importRun', [ v.user, v.source, v.folders, v.exclude, v.ca_file, v.insecure, undefined, v.password ], box)
			.then(function(result) {
				box.appendChild(E('p', {}, [ _('Copied %d messages (%s); %d were there already.').format(result.copied, ms.size(result.bytes), result.present) ]));
			}).catch(function() {});
	},

	handleEvery: function() {
		var v = this.values();
		if (!v.every)
			return ms.notifyError(new Error(_('Give an interval (like 30m or 1h) for a sync job.')));
		return ms.call('importAdd', v.user, v.source, v.every, v.folders, v.exclude, v.ca_file, v.insecure, undefined, v.password)
			.then(function() { window.location.reload(); }, ms.notifyError);
	},

	field: function(label, input, help) {
		return E('div', { 'class': 'cbi-value' }, [
			E('label', { 'class': 'cbi-value-title' }, [ label ]),
			E('div', { 'class': 'cbi-value-field' }, [ input, help ? E('div', { 'class': 'cbi-value-description' }, [ help ]) : '' ])
		]);
	},

	form: function(users) {
		return E('div', { 'class': 'cbi-section' }, [
			E('h3', {}, [ _('Copy mail from another server') ]),
			this.field(_('Mailbox here'), E('select', { 'id': 'ms-imp-user', 'class': 'cbi-input-select' }, ms.list(users).map(function(u) {
				return E('option', { 'value': u.address }, [ u.address ]);
			}))),
			this.field(_('Old server'), E('input', { 'id': 'ms-imp-source', 'class': 'cbi-input-text', 'placeholder': 'imaps://login@imap.old.example' }),
				_('imaps://LOGIN@HOST[:PORT], or imap:// with STARTTLS; Gmail wants an app password.')),
			this.field(_('Password there'), E('input', { 'id': 'ms-imp-password', 'type': 'password', 'class': 'cbi-input-password' })),
			this.field(_('Only these folders'), E('textarea', { 'id': 'ms-imp-folders', 'rows': 2 }), _('One name or pattern per line; empty: all.')),
			this.field(_('Leave out'), E('textarea', { 'id': 'ms-imp-exclude', 'rows': 2 }), _('One name or pattern per line.')),
			this.field(_('CA file'), E('input', { 'id': 'ms-imp-ca', 'class': 'cbi-input-text', 'placeholder': '/etc/ssl/old-server.pem' }),
				_('Trust this PEM file (the old server\'s self-signed certificate) instead of the system\'s CAs.')),
			this.field(_('Do not check the certificate'), E('input', { 'id': 'ms-imp-insecure', 'type': 'checkbox' })),
			this.field(_('Repeat every'), E('input', { 'id': 'ms-imp-every', 'class': 'cbi-input-text', 'placeholder': '30m' }),
				_('For a sync job: 30m, 1h, 1d.')),
			E('div', { 'id': 'ms-imp-job' }),
			E('div', { 'class': 'cbi-page-actions' }, [
				ms.button(_('Copy once'), 'apply', L.bind(this.handleOnce, this)), ' ',
				ms.button(_('Save as sync job'), 'save', L.bind(this.handleEvery, this))
			])
		]);
	},

	render: function(data) {
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('Import') ]),
			E('div', { 'class': 'cbi-map-descr' }, [ _('Move in from another mail server: every folder and message with its flags and dates, without duplicates; a sync job copies what is new until it is deleted.') ]),
			ms.readOnlyNote(),
			E('div', { 'class': 'cbi-section' }, [ this.jobRows(data[0]) ]),
			ms.writable() ? this.form(data[1]) : ''
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
