'use strict';
'require view';
'require poll';
'require ui';
'require mailserver.common as ms';
'require mailserver.charts as charts';

/* Overview: what the mail server is doing now, refreshed every 10 s; start/stop/install; what
 * `mailctl diagnose` finds; messages per hour and day, the queue and storage as pictures (each minute). */

var BADGE = { ok: 'success', warn: 'warning', fail: 'danger' };

function hourOf(row) {
	return '%02d:00'.format(new Date(row.start * 1000).getHours());
}

function dayOf(row) {
	var d = new Date(row.start * 1000);
	return '%d.%d.'.format(d.getUTCDate(), d.getUTCMonth() + 1);
}

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
		return Promise.all([ this.loadStatus(), ms.fetch('getCharts'), ms.fetch('setupStatus') ]).then(function(res) {
			return res[0].concat([ res[1], res[2] ]);  /* data[5]: the charts, data[6]: the setup's state */
		});
	},

	/* what the 10-second refresh asks (the charts change hourly: each minute is enough) */
	loadStatus: function() {
		return Promise.all([
			ms.fetch('getStatus'),
			ms.fetch('getCertStatus'),
			ms.fetch('getQueue'),
			ms.fetch('listSnapshots'),
			ms.fetch('jobList')
		]);
	},

	/* An appliance whose first-run setup is not complete (nor ever installed) points to the wizard. */
	renderSetupNote: function(data) {
		var setup = data[6] || {}, st = data[0] || {};
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

	/* Counts of ok / warnings / failures and each problem found; how to fix it is on the Diagnose page
	 * (diagnose's hints are written for the shell, which the Overview does not send anyone to). */
	renderDiagnosis: function(res) {
		var link = E('a', { 'href': L.url('admin/services/mailserver/diagnose') }, [ _('All checks on the Diagnose page') ]);
		if (res == null)
			return E('div', { 'id': 'ms-diagnose-summary' }, [ E('em', { 'class': 'spinning' }, [ _('Running the checks…') ]) ]);
		if (res.error != null || !res.checks)
			return E('div', { 'id': 'ms-diagnose-summary' }, [ ms.errorBox(res.error || _('No checks')), link ]);
		var count = { ok: 0, warn: 0, fail: 0 };
		res.checks.forEach(function(c) { count[c.status] = (count[c.status] || 0) + 1; });
		var problems = res.checks.filter(function(c) { return c.status != 'ok'; }).sort(function(a, b) {
			return (a.status == 'fail' ? 0 : 1) - (b.status == 'fail' ? 0 : 1);
		});
		return E('div', { 'id': 'ms-diagnose-summary' }, [
			E('p', {}, [
				E('span', { 'class': 'label success' }, [ _('%d ok').format(count.ok) ]), ' ',
				E('span', { 'class': 'label warning' }, [ _('%d warning(s)').format(count.warn) ]), ' ',
				E('span', { 'class': 'label danger' }, [ _('%d failed').format(count.fail) ]), ' ',
				link
			]),
			problems.length ? E('ul', { 'class': 'ms-problems' }, problems.map(function(c) {
				return E('li', {}, [
					E('span', { 'class': 'label ' + (BADGE[c.status] || '') }, [ c.status ]), ' ',
					E('strong', {}, [ c.name ]), ': ', c.detail
				]);
			})) : ''
		]);
	},

	/* diagnose takes seconds: the Overview shows first, the summary when it is there */
	loadDiagnosis: function() {
		return ms.fetch('getDiagnosis').then(L.bind(function(res) {
			var old = document.getElementById('ms-diagnose-summary');
			if (old)
				old.parentNode.replaceChild(this.renderDiagnosis(res), old);
		}, this));
	},

	renderCharts: function(res) {
		if (res.error != null)
			return E('div', { 'id': 'ms-charts' }, [ ms.errorBox(res.error) ]);
		var series = [ 'received', 'sent', 'rejected' ], names = [ _('received'), _('sent'), _('rejected') ];
		var hours = res.hours || [], days = res.days || [], boxes = res.mailboxes || [];
		return E('div', { 'id': 'ms-charts' }, [
			E('h3', {}, [ _('Messages per hour, last 24 hours') ]),
			charts.bars('ms-chart-hours', hours, series, names,
				function(r, i) { return (i % 3 == 0) ? hourOf(r) : ''; }, hourOf),
			E('h3', {}, [ _('Messages per day, last 30 days') ]),
			charts.bars('ms-chart-days', days, series, names,
				function(r, i) { return (i % 5 == 4 || i == days.length - 1) ? dayOf(r) : ''; }, dayOf),
			E('h3', {}, [ _('Mail queue, last 24 hours') ]),
			charts.line('ms-chart-queue', hours, _('messages in the queue (now: %s)').format(value(res.queue)),
				function(r, i) { return (i % 3 == 0) ? hourOf(r) : ''; }),
			E('h3', {}, [ _('Storage per mailbox') ]),
			boxes.length ? charts.storage('ms-chart-storage', boxes, function(b) {
				return b.quota_bytes ? _('%s of %s (%d%%)').format(ms.size(b.usage_bytes), ms.size(b.quota_bytes),
					Math.round(100 * b.usage_bytes / b.quota_bytes)) : _('%s, no quota').format(ms.size(b.usage_bytes));
			}) : E('p', {}, [ E('em', {}, [ _('No mailboxes yet') ]) ])
		]);
	},

	refreshCharts: function() {
		return ms.fetch('getCharts').then(L.bind(function(res) {
			var old = document.getElementById('ms-charts');
			if (old)
				old.parentNode.replaceChild(this.renderCharts(res), old);
		}, this));
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
		return this.loadStatus().then(L.bind(function(data) {
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
		poll.add(L.bind(this.refreshCharts, this), 60);
		this.loadDiagnosis();

		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('Mail Server') ]),
			E('div', { 'class': 'cbi-map-descr' }, [ _('Postfix and Dovecot in an LXC container, managed by secumail.') ]),
			ms.readOnlyNote(),
			this.renderSetupNote(data),
			E('div', { 'class': 'cbi-section' }, [ this.renderTable(data) ]),
			E('div', { 'id': 'mailserver-job' }),
			this.renderButtons(data),
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, [ _('Diagnose') ]), this.renderDiagnosis(null) ]),
			E('div', { 'class': 'cbi-section' }, [ this.renderCharts(data[5]) ])
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
