'use strict';
'require baseclass';
'require rpc';
'require ui';

/*
 * What every Mail Server page shares: the calls to the rpcd object
 * `luci.mailserver` (one rpc.declare per method, nothing else), running a
 * long operation as a job of secumaild with a progress bar, and the messages
 * for errors and for logins that may only read.
 */

var calls = {
	getStatus: rpc.declare({ object: 'luci.mailserver', method: 'getStatus' }),
	getDiagnosis: rpc.declare({ object: 'luci.mailserver', method: 'getDiagnosis' }),
	getCharts: rpc.declare({ object: 'luci.mailserver', method: 'getCharts' }),
	getLogs: rpc.declare({ object: 'luci.mailserver', method: 'getLogs', params: [ 'lines' ] }),
	getQueue: rpc.declare({ object: 'luci.mailserver', method: 'getQueue' }),
	serviceAction: rpc.declare({ object: 'luci.mailserver', method: 'serviceAction', params: [ 'action' ] }),
	install: rpc.declare({ object: 'luci.mailserver', method: 'install' }),
	applyConfig: rpc.declare({ object: 'luci.mailserver', method: 'applyConfig' }),
	listDomains: rpc.declare({ object: 'luci.mailserver', method: 'listDomains' }),
	listUsers: rpc.declare({ object: 'luci.mailserver', method: 'listUsers' }),
	listAliases: rpc.declare({ object: 'luci.mailserver', method: 'listAliases' }),
	domainAdd: rpc.declare({ object: 'luci.mailserver', method: 'domainAdd', params: [ 'domain' ] }),
	domainDel: rpc.declare({ object: 'luci.mailserver', method: 'domainDel', params: [ 'domain', 'force' ] }),
	userAdd: rpc.declare({ object: 'luci.mailserver', method: 'userAdd', params: [ 'address', 'password', 'quota' ] }),
	userDel: rpc.declare({ object: 'luci.mailserver', method: 'userDel', params: [ 'address', 'purge' ] }),
	userPasswd: rpc.declare({ object: 'luci.mailserver', method: 'userPasswd', params: [ 'address', 'password' ] }),
	userQuota: rpc.declare({ object: 'luci.mailserver', method: 'userQuota', params: [ 'address', 'size' ] }),
	listAppPasswords: rpc.declare({ object: 'luci.mailserver', method: 'listAppPasswords', params: [ 'address' ] }),
	appPasswordDel: rpc.declare({ object: 'luci.mailserver', method: 'appPasswordDel', params: [ 'address', 'name' ] }),
	aliasAdd: rpc.declare({ object: 'luci.mailserver', method: 'aliasAdd', params: [ 'source', 'destinations' ] }),
	aliasDel: rpc.declare({ object: 'luci.mailserver', method: 'aliasDel', params: [ 'source' ] }),
	queueFlush: rpc.declare({ object: 'luci.mailserver', method: 'queueFlush' }),
	queueDelete: rpc.declare({ object: 'luci.mailserver', method: 'queueDelete', params: [ 'queue_id' ] }),
	queueDeleteAll: rpc.declare({ object: 'luci.mailserver', method: 'queueDeleteAll' }),
	dnsPlan: rpc.declare({ object: 'luci.mailserver', method: 'dnsPlan', params: [ 'domain' ] }),
	dnsCheck: rpc.declare({ object: 'luci.mailserver', method: 'dnsCheck', params: [ 'domain' ] }),
	dnsApply: rpc.declare({ object: 'luci.mailserver', method: 'dnsApply', params: [ 'domain', 'force' ] }),
	getReports: rpc.declare({ object: 'luci.mailserver', method: 'getReports', params: [ 'days' ] }),
	getCertStatus: rpc.declare({ object: 'luci.mailserver', method: 'getCertStatus' }),
	certIssue: rpc.declare({ object: 'luci.mailserver', method: 'certIssue', params: [ 'force', 'staging' ] }),
	certRenew: rpc.declare({ object: 'luci.mailserver', method: 'certRenew' }),
	getNodeId: rpc.declare({ object: 'luci.mailserver', method: 'getNodeId' }),
	listPeers: rpc.declare({ object: 'luci.mailserver', method: 'listPeers' }),
	listDiscovered: rpc.declare({ object: 'luci.mailserver', method: 'listDiscovered' }),
	listSnapshots: rpc.declare({ object: 'luci.mailserver', method: 'listSnapshots' }),
	meshAddPeer: rpc.declare({ object: 'luci.mailserver', method: 'meshAddPeer', params: [ 'node_id', 'address' ] }),
	meshRemovePeer: rpc.declare({ object: 'luci.mailserver', method: 'meshRemovePeer', params: [ 'node_id' ] }),
	meshBackup: rpc.declare({ object: 'luci.mailserver', method: 'meshBackup' }),
	meshSync: rpc.declare({ object: 'luci.mailserver', method: 'meshSync', params: [ 'direction', 'peer' ] }),
	meshRestore: rpc.declare({ object: 'luci.mailserver', method: 'meshRestore', params: [ 'snapshot' ] }),
	listRelays: rpc.declare({ object: 'luci.mailserver', method: 'listRelays' }),
	relayAdd: rpc.declare({ object: 'luci.mailserver', method: 'relayAdd', params: [ 'name', 'host', 'port', 'tls', 'user', 'sender_domain', 'no_verify', 'password' ] }),
	relayDel: rpc.declare({ object: 'luci.mailserver', method: 'relayDel', params: [ 'name' ] }),
	relayTest: rpc.declare({ object: 'luci.mailserver', method: 'relayTest', params: [ 'name' ] }),
	listImports: rpc.declare({ object: 'luci.mailserver', method: 'listImports' }),
	importShow: rpc.declare({ object: 'luci.mailserver', method: 'importShow', params: [ 'name' ] }),
	importRun: rpc.declare({ object: 'luci.mailserver', method: 'importRun', params: [ 'user', 'source', 'folders', 'exclude', 'ca_file', 'insecure', 'name', 'password' ] }),
	importAdd: rpc.declare({ object: 'luci.mailserver', method: 'importAdd', params: [ 'user', 'source', 'every', 'folders', 'exclude', 'ca_file', 'insecure', 'name', 'password' ] }),
	importDel: rpc.declare({ object: 'luci.mailserver', method: 'importDel', params: [ 'name' ] }),
	setupStatus: rpc.declare({ object: 'luci.mailserver', method: 'setupStatus' }),
	setupReset: rpc.declare({ object: 'luci.mailserver', method: 'setupReset' }),
	setupIdentity: rpc.declare({ object: 'luci.mailserver', method: 'setupIdentity', params: [ 'domain', 'hostname' ] }),
	setupDns: rpc.declare({ object: 'luci.mailserver', method: 'setupDns', params: [ 'provider', 'server', 'zone', 'credentials' ] }),
	setupPlan: rpc.declare({ object: 'luci.mailserver', method: 'setupPlan' }),
	setupRecords: rpc.declare({ object: 'luci.mailserver', method: 'setupRecords' }),
	setupInstall: rpc.declare({ object: 'luci.mailserver', method: 'setupInstall' }),
	setupCertificate: rpc.declare({ object: 'luci.mailserver', method: 'setupCertificate', params: [ 'type', 'directory', 'ca_bundle', 'email' ] }),
	setupMailbox: rpc.declare({ object: 'luci.mailserver', method: 'setupMailbox', params: [ 'address', 'password', 'quota' ] }),
	setupFinish: rpc.declare({ object: 'luci.mailserver', method: 'setupFinish', params: [ 'address' ] }),
	jobShow: rpc.declare({ object: 'luci.mailserver', method: 'jobShow', params: [ 'id' ] }),
	jobList: rpc.declare({ object: 'luci.mailserver', method: 'jobList' }),
	agentStart: rpc.declare({ object: 'luci.mailserver', method: 'agentStart' })
};

/* A refused ubus call (ACL) says "Permission denied" / "Access denied": say what it means here. */
function explain(err) {
	var msg = (err && err.message) ? err.message : String(err);
	if (/permission denied|access denied/i.test(msg))
		return _('Refused: this login may only read the mail server (ask an administrator for write access).');
	return msg;
}

var Common = baseclass.extend({
	calls: calls,

	/* true when this login may change things (the menu's ACL grants write). */
	writable: function() {
		return L.hasViewPermission();
	},

	/*
	 * Call a method; resolve with its reply, reject with an Error whose
	 * message is the plugin's one-line error (or the ACL refusal explained).
	 */
	call: function(name /*, args... */) {
		var args = Array.prototype.slice.call(arguments, 1);
		return calls[name].apply(null, args).then(function(res) {
			if (res && res.error != null)
				throw new Error(res.error);
			return res;
		}, function(err) {
			throw new Error(explain(err));
		});
	},

	/* Like call(), but a failure becomes {error: message} to show in place. */
	fetch: function(name /*, args... */) {
		return this.call.apply(this, arguments).catch(function(err) {
			return { error: err.message };
		});
	},

	list: function(res) {
		if (Array.isArray(res))
			return res;
		return (res && Array.isArray(res.result)) ? res.result : [];
	},

	errorBox: function(message) {
		return E('div', { 'class': 'alert-message warning' }, [ E('p', {}, [ message ]) ]);
	},

	notifyError: function(err) {
		ui.addNotification(null, E('p', {}, [ explain(err) ]), 'danger');
	},

	/* A button that exists only for logins with write access. */
	button: function(label, style, handler) {
		if (!this.writable())
			return '';
		return E('button', {
			'class': 'cbi-button cbi-button-' + (style || 'action'),
			'click': ui.createHandlerFn(this, handler)
		}, [ label ]);
	},

	readOnlyNote: function() {
		if (this.writable())
			return '';
		return E('div', { 'class': 'alert-message notice' }, [
			E('p', {}, [ _('Read-only access: status is shown, changes are not offered.') ])
		]);
	},

	table: function(headers, rows, empty) {
		var t = E('table', { 'class': 'table' }, [
			E('tr', { 'class': 'tr table-titles' }, headers.map(function(h) {
				return E('th', { 'class': 'th' }, [ h ]);
			}))
		]);
		if (!rows.length)
			t.appendChild(E('tr', { 'class': 'tr placeholder' }, [
				E('td', { 'class': 'td', 'colspan': headers.length }, [ E('em', {}, [ empty || _('None') ]) ])
			]));
		rows.forEach(function(row) {
			t.appendChild(E('tr', { 'class': 'tr' }, row.map(function(cell) {
				return E('td', { 'class': 'td' }, [ cell == null ? '' : cell ]);
			})));
		});
		return t;
	},

	/* A time for humans (the reader's locale): an ISO 8601 string or seconds since 1970; else as given. */
	date: function(value) {
		if (value == null || value === '')
			return '-';
		var d = (typeof value == 'number') ? new Date(value * 1000) : new Date(String(value));
		return isNaN(d.getTime()) ? String(value) : d.toLocaleString();
	},

	size: function(bytes) {
		if (bytes == null)
			return '-';
		return '%1024.1mB'.format(bytes);
	},

	progressBar: function(percent, text) {
		var p = Math.max(0, Math.min(100, percent || 0));
		return E('div', { 'class': 'cbi-progressbar', 'title': text || ('%d%%'.format(p)) }, [
			E('div', { 'style': 'width:%d%%'.format(p) })
		]);
	},

	/*
	 * Start a job (a method whose reply is a job id) and poll jobShow until it
	 * is done or failed, showing its progress in `box`. Resolves with the
	 * job's result, rejects with its error.
	 */
	runJob: function(name, args, box) {
		var self = this;
		var started = self.call.apply(self, [ name ].concat(args || []));
		var show = function(job) {
			if (!box)
				return;
			var prog = job.progress || {};
			var text = prog.message || job.state || _('Starting…');
			box.innerHTML = '';
			box.appendChild(E('p', {}, [ E('em', { 'class': 'spinning' }, [ text ]) ]));
			box.appendChild(self.progressBar(prog.percent, text));
		};
		return started.then(function(res) {
			var id = (res.id != null) ? res.id : (res.job != null ? res.job : res.result);
			if (id == null)
				throw new Error(_('The agent did not return a job id.'));
			show({ state: 'queued' });
			return new Promise(function(resolve, reject) {
				var poll = function() {
					self.call('jobShow', String(id)).then(function(job) {
						show(job);
						if (job.state == 'done')
							resolve(job.result);
						else if (job.state == 'failed') {
							/* a job that reports problems (dns-check) still has a result to show */
							var err = new Error(job.error || _('The job failed.'));
							err.result = job.result;
							reject(err);
						}
						else
							window.setTimeout(poll, 1000);
					}).catch(reject);
				};
				poll();
			});
		}).then(function(result) {
			if (box)
				box.innerHTML = '';
			return result;
		}, function(err) {
			if (box) {
				box.innerHTML = '';
				box.appendChild(self.errorBox(err.message));
			}
			throw err;
		});
	}
});

return Common;
