'use strict';
'require view';
'require poll';
'require ui';
'require mailserver.common as ms';

/* Overview: what the mail server is doing now, refreshed every 10 s; start/stop/install. */

function value(v) {
	return (v == null || v === '') ? '-' : String(v);
}

function lastJob(jobs, name) {
	var found = null;
	ms.list(jobs).forEach(function(job) {
		if (job.name == name && (job.state == 'done' || job.state == 'failed'))
			if (!found || (+job.finished || 0) > (+found.finished || 0))
				found = job;
	});
	return found;
}

return view.extend({
	load: function() {
		return Promise.all([
			ms.fetch('getStatus'),
			ms.fetch('getCertStatus'),
			ms.fetch('getQueue'),
			ms.fetch('listSnapshots'),
			ms.fetch('jobList'),
			ms.fetch('setupStatus')
		]);
	},

	/* An appliance whose first-run setup is not complete (nor ever installed) points to the wizard. */
	renderSetupNote: function(data) {
		var setup = data[5] || {}, st = data[0] || {};
		if (setup.error || setup.complete || (st.container && st.container.state == 'RUNNING'))
			return '';
		return E('div', { 'class': 'alert-message notice', 'id': 'mailserver-setup-note' }, [
			E('p', {}, [
				_('This mail server is not set up yet.'), ' ',
				E('a', { 'href': L.url('admin/services/mailserver/setup'), 'class': 'cbi-button cbi-button-action' },
					[ setup.next && setup.next != 'identity' ? _('Resume the setup') : _('Start the setup') ])
			])
		]);
	},

	rows: function(data) {
		var st = data[0], cert = data[1], queue = data[2], snaps = data[3], jobs = data[4];
		if (st.error)
			return [ [ _('Status'), E('span', { 'class': 'label warning' }, [ st.error ]) ] ];

		var services = Object.keys(st.services || {}).map(function(name) {
			return '%s %s'.format(name, st.services[name] ? _('up') : _('DOWN'));
		}).join(', ');
		var ports = Object.keys(st.ports || {}).map(function(name) {
			return '%s %d'.format(name, st.ports[name]);
		}).join(', ');

		var certText;
		if (st.certificate && st.certificate.present === false)
			certText = st.certificate.summary || _('none');
		else if (st.certificate && st.certificate.days_left != null)
			certText = _('%d days left (until %s)').format(st.certificate.days_left, ms.date(st.certificate.not_after));
		else if (cert.error)
			certText = cert.error;
		else if (!cert.certificate)
			certText = _('none');
		else
			certText = _('%d days left (until %s)').format(cert.days_left, ms.date(cert.not_after || cert.certificate.not_after));

		/* the status carries the queue size when the container runs; else ask the queue itself */
		var queueText = (typeof st.queue == 'number') ? _('%d message(s)').format(st.queue) :
			queue.error ? queue.error : _('%d message(s)').format(ms.list(queue).length);

		var snapshots = ms.list(snaps);
		var lastSnap = snapshots.length ? snapshots[snapshots.length - 1] : null;
		var backupText = snaps.error ? snaps.error : (lastSnap ? '%s (%s)'.format(ms.date(lastSnap.time), lastSnap.id) : _('no backup yet'));

		/* the agent (secumaild) runs the jobs: while it is stopped the DNS check's state is simply not known */
		var agentUp = !st.agent || st.agent.running;
		var dns = lastJob(jobs, 'dns-check');
		var when = dns ? ms.date(dns.finished) : '';
		var dnsText = !agentUp ? _('not known while the agent is stopped') : jobs.error ? jobs.error :
			!dns ? _('not checked yet (see the DNS page)') :
			(dns.result && dns.result.ok) ? _('all required records correct (%s)').format(when) :
			_('%s required item(s) wrong (%s)').format(dns.result ? dns.result.failed : '?', when);

		var dkim = st.dkim || {};
		var dkimText = !dkim.enabled ? _('disabled') : dkim.key_present ?
			_('selector %s, key present').format(dkim.selector) :
			E('span', { 'class': 'label warning' }, [ _('selector %s, key MISSING (run Apply configuration)').format(dkim.selector) ]);

		/* outbound port 25 as the last dns-check probed it, and each relay's last login test, as mailctl status */
		var delivery = st.delivery || {};
		var p25 = delivery.port25;
		var p25Text = !p25 ? _('not probed yet (set dns.smtp_probe, then run the DNS check)') :
			'%s: %s'.format(p25.state, p25.detail);
		if (p25 && p25.state != 'open')
			p25Text = E('span', { 'class': 'label warning' }, [ p25Text ]);
		var relayRows = (delivery.relays || []).map(function(r, i) {
			var t = r.last_test;
			var text = '%s %s, %s: %s'.format(r.name, r.nexthop, r['default'] ? _('default relayhost') :
				_('for %s').format((r.sender_domain || []).join(', ')),
				!t ? _('not tested yet') : t.ok ? _('last test ok') : _('last test FAILED: %s').format(t.message));
			return [ i ? '' : _('Relays'), (t && !t.ok) ? E('span', { 'class': 'label warning' }, [ text ]) : text ];
		});

		var mem = st.memory || (st.container && st.container.memory);
		var memText = mem ? (typeof mem == 'object' ? (mem.limit ? '%s / %s'.format(ms.size(mem.used), ms.size(mem.limit)) : ms.size(mem.used)) : value(mem)) : '-';

		var agentText = agentUp ? _('running') : E('span', {}, [
			E('span', { 'class': 'label warning' }, [ _('not running: no jobs, renewals, backups or DNS checks') ]), ' ',
			ms.button(_('Start agent'), 'apply', L.bind(this.startAgent, this))
		]);

		return [
			[ _('Agent (secumaild)'), agentText ],
			[ _('Mail server'), '%s (%s) — %s'.format(st.config.fqdn, st.config.domain, st.config.enabled ? _('enabled') : _('disabled')) ],
			[ _('Container'), '%s — %s'.format(st.container.name, st.container.state) ],
			[ _('Services'), services || '-' ],
			[ _('Ports'), ports || '-' ],
			[ _('Memory'), memText ],
			[ _('Mail queue'), queueText ],
			[ _('Certificate'), certText ],
			[ _('DKIM'), dkimText ],
			[ _('DNS check'), dnsText ],
			[ _('Last backup'), backupText ],
			[ _('Mesh backup'), st.mesh.enabled ? _('enabled, %d peer(s)').format(st.mesh.peers) : _('disabled') ],
			[ _('Port 25 out'), p25Text ]
		].concat(relayRows).concat((st.protection || []).map(function(item, i) {
			/* one row per protection feature: state (on/off/refused/down) and why, as mailctl status */
			var text = '%s: %s (%s)'.format(item.name, item.state, item.why);
			return [ i ? '' : _('Protection'), (item.state == 'refused' || item.state == 'down') ?
				E('span', { 'class': 'label warning' }, [ text ]) : text ];
		})).concat((st.notes || []).map(function(note) { return [ _('Note'), note ]; }));
	},

	renderTable: function(data) {
		return E('table', { 'class': 'table', 'id': 'mailserver-status' }, this.rows(data).map(function(row) {
			return E('tr', { 'class': 'tr' }, [
				E('td', { 'class': 'td left', 'style': 'width:25%' }, [ E('strong', {}, [ row[0] ]) ]),
				E('td', { 'class': 'td left' }, [ row[1] ])
			]);
		}));
	},

	/* Start or Stop, whichever the container's state calls for (both while it is changing). */
	renderButtons: function(data) {
		var st = data[0];
		if (!ms.writable())
			return E('div', { 'id': 'mailserver-actions' });
		var state = (st.container || {}).state;
		return E('div', { 'class': 'cbi-page-actions', 'id': 'mailserver-actions' }, [
			state != 'RUNNING' ? ms.button(_('Start'), 'apply', L.bind(this.handleJob, this, 'serviceAction', [ 'start' ])) : '', ' ',
			state != 'STOPPED' ? ms.button(_('Stop'), 'reset', L.bind(this.handleJob, this, 'serviceAction', [ 'stop' ])) : '', ' ',
			ms.button(_('Apply configuration'), 'reload', L.bind(this.handleJob, this, 'applyConfig', [])), ' ',
			ms.button(_('Install / rebuild container'), 'action', L.bind(this.handleJob, this, 'install', []))
		]);
	},

	startAgent: function() {
		return ms.call('agentStart').then(L.bind(this.refresh, this), ms.notifyError);
	},

	/* start/stop, install and apply are jobs of secumaild: progress below the table. */
	handleJob: function(method, args, ev) {
		var box = document.getElementById('mailserver-job');
		return ms.runJob(method, args, box).then(L.bind(this.refresh, this)).catch(function() {});
	},

	refresh: function() {
		return this.load().then(L.bind(function(data) {
			var old = document.getElementById('mailserver-status');
			if (old)
				old.parentNode.replaceChild(this.renderTable(data), old);
			old = document.getElementById('mailserver-actions');
			if (old)
				old.parentNode.replaceChild(this.renderButtons(data), old);
		}, this));
	},

	render: function(data) {
		poll.add(L.bind(this.refresh, this), 10);

		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('Mail Server') ]),
			E('div', { 'class': 'cbi-map-descr' }, [ _('Postfix and Dovecot in an LXC container, managed by secumail.') ]),
			ms.readOnlyNote(),
			this.renderSetupNote(data),
			E('div', { 'class': 'cbi-section' }, [ this.renderTable(data) ]),
			E('div', { 'id': 'mailserver-job' }),
			this.renderButtons(data)
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
