'use strict';
'require view';
'require ui';
'require mailserver.common as ms';

/*
 * Reports: DMARC aggregate and TLS-RPT reports other servers sent to our
 * rua addresses, summarised by `mailctl reports` (docs/reports.md). Reading
 * only: nothing on this page changes the server or the mailbox.
 */

var DAYS = [ 7, 30, 90, 366 ];

function day(iso) {
	return iso ? iso.substring(0, 10) : '-';
}

function counts(obj) {
	var keys = Object.keys(obj || {}).sort(function(a, b) { return obj[b] - obj[a]; });
	return keys.length ? keys.map(function(k) { return '%s %d'.format(k, obj[k]); }).join(', ') : '-';
}

/* "passed/failed", the failed part marked when there is one */
function verdict(passed, failed) {
	if (!failed)
		return '%d/0'.format(passed);
	return E('span', {}, [ '%d/'.format(passed), E('span', { 'class': 'label warning' }, [ String(failed) ]) ]);
}

return view.extend({
	days: 30,

	load: function() {
		return ms.fetch('getReports', this.days);
	},

	renderDmarc: function(d) {
		var rows = (d.sources || []).map(function(s) {
			return [ s.source_ip, s.domain, String(s.messages), verdict(s.spf_pass, s.spf_fail),
				verdict(s.dkim_pass, s.dkim_fail), verdict(s.dmarc_pass, s.dmarc_fail), counts(s.dispositions),
				(s.orgs || []).join(', ') ];
		});
		var orgs = (d.orgs || []).map(function(o) {
			return [ o.org, String(o.reports), String(o.messages), verdict(o.dmarc_pass, o.dmarc_fail), day(o.first), day(o.last) ];
		});
		return E('div', { 'class': 'cbi-section' }, [
			E('h3', {}, [ _('DMARC: who sent mail as our domains') ]),
			E('p', {}, [ _('%d report(s) on %d message(s): %d passed DMARC, %d failed. SPF, DKIM and DMARC columns: messages passed/failed (aligned results).')
				.format(d.reports || 0, d.messages || 0, d.dmarc_pass || 0, d.dmarc_fail || 0) ]),
			ms.table([ _('Source address'), _('Domain'), _('Messages'), _('SPF'), _('DKIM'), _('DMARC'), _('Disposition'), _('Reported by') ],
				rows, _('No DMARC report in this period')),
			E('h4', {}, [ _('By reporting organisation') ]),
			ms.table([ _('Organisation'), _('Reports'), _('Messages'), _('DMARC'), _('From'), _('To') ], orgs, _('None'))
		]);
	},

	renderTls: function(t) {
		var rows = (t.domains || []).map(function(d) {
			return [ d.domain, d.policy_type, String(d.successful), d.failed ? E('span', { 'class': 'label warning' }, [ String(d.failed) ]) : '0',
				counts(d.failures), (d.orgs || []).join(', ') ];
		});
		return E('div', { 'class': 'cbi-section' }, [
			E('h3', {}, [ _('TLS-RPT: TLS sessions to our mail server') ]),
			E('p', {}, [ _('%d report(s): %d successful, %d failed session(s).').format(t.reports || 0, t.successful || 0, t.failed || 0) ]),
			ms.table([ _('Receiving domain'), _('Policy'), _('Successful'), _('Failed'), _('Failure types'), _('Reported by') ],
				rows, _('No TLS-RPT report in this period'))
		]);
	},

	renderBody: function(res) {
		if (res.error)
			return E('div', { 'id': 'ms-reports' }, [ ms.errorBox(res.error) ]);
		var boxes = (res.mailboxes || []).map(function(b) {
			return _('%s (%d messages)').format(b.address, b.messages);
		});
		var period = res.first ? _('%s to %s').format(day(res.first), day(res.last)) : _('no report in this period');
		var body = [
			E('p', {}, [ _('Reports period: %s. Read from: %s.').format(period, boxes.length ? boxes.join(', ') : _('no mailbox')) ])
		];
		(res.notes || []).forEach(function(n) {
			body.push(E('div', { 'class': 'alert-message notice' }, [ E('p', {}, [ n ]) ]));
		});
		body.push(this.renderDmarc(res.dmarc || {}));
		body.push(this.renderTls(res.tls || {}));
		if ((res.refused || []).length)
			body.push(E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Refused reports') ]),
				E('p', {}, [ _('Malformed or hostile attachments, not counted above (one line each).') ]),
				E('pre', { 'style': 'white-space:pre-wrap' }, [ res.refused.join('\n') ])
			]));
		return E('div', { 'id': 'ms-reports' }, body);
	},

	handleDays: function(ev) {
		this.days = +ev.target.value;
		return this.load().then(L.bind(function(res) {
			var old = document.getElementById('ms-reports');
			old.parentNode.replaceChild(this.renderBody(res), old);
		}, this)).catch(ms.notifyError);
	},

	render: function(res) {
		var self = this;
		var select = E('select', { 'class': 'cbi-input-select', 'change': ui.createHandlerFn(this, 'handleDays') },
			DAYS.map(function(n) {
				return E('option', { 'value': n, 'selected': n == self.days ? '' : null }, [ _('last %d days').format(n) ]);
			}));
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('Reports received') ]),
			E('div', { 'class': 'cbi-map-descr' }, [
				_('DMARC aggregate and TLS-RPT reports that other mail servers sent to the report address of our DNS records (rua). Hostile or malformed reports are refused and listed.')
			]),
			ms.readOnlyNote(),
			E('div', { 'class': 'cbi-section' }, [ E('label', {}, [ _('Reports that ended in the'), ' ', select ]) ]),
			this.renderBody(res)
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
