'use strict';
'require view';
'require ui';
'require mailserver.common as ms';

/* Certificates: the installed certificate and its renewal state; issue or renew as a job. */

return view.extend({
	load: function() {
		return ms.fetch('getCertStatus');
	},

	rows: function(st) {
		var cert = st.certificate;
		var rows = [ [ _('Source'), st.source ], [ _('Names wanted'), (st.names || []).join(', ') ] ];
		if (!cert) {
			rows.push([ _('Certificate'), _('none yet') ]);
		}
		else {
			rows.push([ _('Subject'), cert.subject ]);
			rows.push([ _('Names (SANs)'), (cert.sans || []).join(', ') ]);
			rows.push([ _('Issuer'), cert.issuer ]);
			rows.push([ _('Key type'), cert.key_type ]);
			rows.push([ _('Valid until'), ms.date(cert.not_after) ]);
			rows.push([ _('Days left'), st.warning ? E('span', { 'class': 'label warning' }, [ _('%d — renew soon').format(st.days_left) ]) : String(st.days_left) ]);
			if (st.missing_names && st.missing_names.length)
				rows.push([ _('Missing names'), st.missing_names.join(', ') ]);
		}
		rows.push([ _('Next renewal'), ms.date(st.next_renewal) ]);
		rows.push([ _('Last attempt'), st.last_attempt ? ms.date(st.last_attempt) : _('never') ]);
		rows.push([ _('Last error'), st.last_error || _('none') ]);
		return rows;
	},

	renderStatus: function(st) {
		if (st.error)
			return E('div', { 'id': 'ms-cert-status' }, [ ms.errorBox(st.error) ]);
		return E('div', { 'id': 'ms-cert-status' }, [ ms.table([ _('Field'), _('Value') ], this.rows(st)) ]);
	},

	refresh: function() {
		return this.load().then(L.bind(function(st) {
			var old = document.getElementById('ms-cert-status');
			old.parentNode.replaceChild(this.renderStatus(st), old);
		}, this));
	},

	handleJob: function(name, args) {
		var box = document.getElementById('ms-cert-job');
		return ms.runJob(name, args, box).then(L.bind(function(result) {
			box.appendChild(E('p', {}, [ (result && result.message) ? result.message :
				(result && result.not_after) ? _('Certificate installed, valid until %s.').format(ms.date(result.not_after)) : _('Done.') ]));
			return this.refresh();
		}, this)).catch(function() {});
	},

	render: function(st) {
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('Certificates') ]),
			E('div', { 'class': 'cbi-map-descr' }, [ _('TLS certificate of the mail server, obtained by ACME DNS-01 through the DNS provider.') ]),
			ms.readOnlyNote(),
			E('div', { 'class': 'cbi-section' }, [ this.renderStatus(st) ]),
			E('div', { 'id': 'ms-cert-job' }),
			ms.writable() ? E('div', { 'class': 'cbi-page-actions' }, [
				ms.button(_('Issue certificate'), 'apply', L.bind(this.handleJob, this, 'certIssue', [ false, false ])), ' ',
				ms.button(_('Renew now'), 'reload', L.bind(this.handleJob, this, 'certIssue', [ true, false ])), ' ',
				ms.button(_('Renew if due'), 'action', L.bind(this.handleJob, this, 'certRenew', []))
			]) : ''
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
