'use strict';
'require view';
'require ui';
'require mailserver.common as ms';

/*
 * DNS: the plan (what dns-setup would change), the check of the published
 * records, and Apply. All three ask DNS servers or the provider, so each runs
 * as a job of secumaild and shows its progress.
 */

function short(values) {
	var text = (values && values.length) ? values.join(' | ') : '-';
	return text.length > 90 ? text.substring(0, 89) + '…' : text;
}

function statusLabel(status) {
	var ok = (status == 'ok' || status == 'pass');
	return E('span', { 'class': 'label ' + (ok ? 'success' : (status == 'warn' ? 'notice' : 'warning')) }, [ status ]);
}

return view.extend({
	load: function() {
		return ms.fetch('getStatus');
	},

	showPlan: function(res) {
		var box = document.getElementById('ms-dns-plan');
		box.innerHTML = '';
		box.appendChild(E('p', {}, [ _('DNS provider: %s').format(res.provider) ]));
		if (res.zone_lines != null) {
			box.appendChild(E('p', {}, [ _('Add these records to your zone, then run the check:') ]));
			box.appendChild(E('pre', {}, [ (res.zone_lines || []).join('\n') || _('(nothing: every record is already published)') ]));
		}
		else {
			box.appendChild(E('p', {}, [ res.dry_run ? _('Planned changes (nothing changed yet):') : _('Changes applied:') ]));
			box.appendChild(ms.table([ _('Action'), _('Name'), _('Type'), _('Value') ], (res.changes || []).map(function(c) {
				return [ c.action, c.name, c.type, short(c['new'] && c['new'].length ? c['new'] : c.old) ];
			}), _('Nothing to do: every record is published.')));
		}
		(res.notes || []).forEach(function(n) { box.appendChild(E('p', {}, [ E('em', {}, [ n ]) ])); });
		(res.conflicts || []).forEach(function(c) {
			box.appendChild(ms.errorBox(_('Conflict at %s %s: %s; found %s').format(c.name, c.type, c.reason, short(c.found))));
		});
	},

	showCheck: function(res) {
		var box = document.getElementById('ms-dns-check');
		box.innerHTML = '';
		box.appendChild(ms.table([ _('Status'), _('Name'), _('Type'), _('Expected'), _('Found') ], (res.records || []).map(function(r) {
			return [ statusLabel(r.status), r.name, r.type, short(r.expected), short(r.found) ];
		})));
		box.appendChild(ms.table([ _('Status'), _('Check'), _('Detail') ], (res.checks || []).map(function(c) {
			return [ statusLabel(c.status), c.check, c.detail ];
		})));
		box.appendChild(E('p', {}, [ res.ok ? _('All required records are correct.') :
			_('%d required item(s) wrong: see the rows marked missing, different or fail.').format(res.failed || 0) ]));
	},

	domain: function() {
		var sel = document.getElementById('ms-dns-domain');
		return (sel && sel.value) ? sel.value : undefined;
	},

	handlePlan: function() {
		return ms.runJob('dnsPlan', [ this.domain() ], document.getElementById('ms-dns-plan'))
			.then(L.bind(this.showPlan, this)).catch(L.bind(this.failed, this, 'showPlan'));
	},

	/* a failed job with a result (conflicts, wrong records): show the result under the error */
	failed: function(show, err) {
		if (err && err.result)
			this[show](err.result);
	},

	handleApply: function() {
		var force = document.getElementById('ms-dns-force');
		return ms.runJob('dnsApply', [ this.domain(), force ? force.checked : false ], document.getElementById('ms-dns-plan'))
			.then(L.bind(this.showPlan, this)).catch(L.bind(this.failed, this, 'showPlan'));
	},

	handleCheck: function() {
		return ms.runJob('dnsCheck', [ this.domain() ], document.getElementById('ms-dns-check'))
			.then(L.bind(this.showCheck, this)).catch(L.bind(this.failed, this, 'showCheck'));
	},

	render: function(st) {
		var w = ms.writable();
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('DNS records') ]),
			E('div', { 'class': 'cbi-map-descr' }, [
				_('MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, SRV and autoconfig records for the mail domains, published through the DNS provider set in Settings.')
			]),
			ms.readOnlyNote(),
			st.error ? ms.errorBox(st.error) : '',
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Plan') ]),
				E('p', {}, [
					_('Domain (empty: all): '), E('input', { 'id': 'ms-dns-domain', 'class': 'cbi-input-text',
						'placeholder': st.config ? st.config.domain : '' }), ' ',
					E('button', { 'class': 'cbi-button cbi-button-action', 'click': ui.createHandlerFn(this, 'handlePlan') }, [ _('Show plan') ]), ' ',
					w ? E('label', {}, [ E('input', { 'id': 'ms-dns-force', 'type': 'checkbox' }), ' ', _('replace foreign SPF/DMARC records') ]) : '', ' ',
					ms.button(_('Apply'), 'apply', L.bind(this.handleApply, this))
				]),
				E('div', { 'id': 'ms-dns-plan' }, [ E('em', {}, [ _('Press "Show plan" to compare the wanted records with the published ones.') ]) ])
			]),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Check') ]),
				E('p', {}, [
					E('button', { 'class': 'cbi-button cbi-button-action', 'click': ui.createHandlerFn(this, 'handleCheck') }, [ _('Check published records') ])
				]),
				E('div', { 'id': 'ms-dns-check' }, [ E('em', {}, [ _('Not checked yet.') ]) ])
			])
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
