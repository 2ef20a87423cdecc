'use strict';
'require view';
'require ui';
'require mailserver.common as ms';

/* Diagnose: every check of `mailctl diagnose` (ok, warn, fail) with how to fix it. Takes up to 15 s. */

var BADGE = { ok: 'success', warn: 'warning', fail: 'danger' };

return view.extend({
	load: function() {
		return ms.fetch('getDiagnosis');
	},

	renderReport: function(res) {
		if (res.error != null)
			return E('div', { 'id': 'ms-diagnosis' }, [ ms.errorBox(res.error) ]);
		var rows = (res.checks || []).map(function(c) {
			return [
				E('span', { 'class': 'label ' + (BADGE[c.status] || '') }, [ c.status ]),
				c.name, c.detail, c.hint || ''
			];
		});
		var skipped = (res.skipped || []).map(function(s) { return [ s.name, s.why ]; });
		return E('div', { 'id': 'ms-diagnosis' }, [
			E('p', {}, [ _('Finished in %s s.').format(res.elapsed) ]),
			ms.table([ _('State'), _('Check'), _('Found'), _('How to fix') ], rows, _('No checks')),
			skipped.length ? E('h3', {}, [ _('Not checked') ]) : '',
			skipped.length ? ms.table([ _('Check'), _('Why') ], skipped) : ''
		]);
	},

	handleRun: function() {
		return ms.fetch('getDiagnosis').then(L.bind(function(res) {
			var old = document.getElementById('ms-diagnosis');
			if (old)
				old.parentNode.replaceChild(this.renderReport(res), old);
		}, this));
	},

	render: function(data) {
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('Diagnose') ]),
			E('div', { 'class': 'cbi-section' }, [
				this.renderReport(data),
				E('div', { 'class': 'cbi-page-actions' }, [
					E('button', { 'class': 'cbi-button cbi-button-action', 'click': ui.createHandlerFn(this, 'handleRun') },
						[ _('Run again') ])
				])
			])
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
