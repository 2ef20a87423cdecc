'use strict';
'require view';
'require poll';
'require ui';
'require mailserver.common as ms';

/* Logs: the last mail log lines (refreshed) and the Postfix queue. */

var LINES = 200;

return view.extend({
	load: function() {
		return Promise.all([ ms.fetch('getLogs', LINES), ms.fetch('getQueue') ]);
	},

	logText: function(res) {
		if (res.error)
			return res.error;
		var lines = res.lines || ms.list(res);
		return Array.isArray(lines) ? lines.join('\n') : String(lines);
	},

	renderQueue: function(q) {
		var w = ms.writable(), self = this;
		if (q.error)
			return E('div', { 'id': 'ms-queue' }, [ ms.errorBox(q.error) ]);
		var rows = ms.list(q).map(function(m) {
			var when = m.arrival ? ms.date(m.arrival) : '';
			var rcpt = (m.recipients || []).join(', ') + (m.reason ? ' (' + m.reason + ')' : '');
			var row = [ m.queue_id, when, m.sender || '', rcpt, ms.size(m.size) ];
			return w ? row.concat([ ms.button(_('Delete'), 'remove', L.bind(self.handleDelete, self, m.queue_id)) ]) : row;
		});
		var hdr = [ _('Id'), _('Arrived'), _('Sender'), _('Recipients'), _('Size') ];
		/* "Retry all" and "Delete all" only when there is something to retry or delete */
		var actions = (w && rows.length) ? E('div', { 'class': 'cbi-page-actions' }, [
			ms.button(_('Retry all now'), 'apply', L.bind(function() { return this.act(ms.call('queueFlush')); }, this)), ' ',
			ms.button(_('Delete all'), 'remove', L.bind(function() { return this.act(ms.call('queueDeleteAll')); }, this))
		]) : '';
		return E('div', { 'id': 'ms-queue' }, [ ms.table(w ? hdr.concat([ '' ]) : hdr, rows, _('The queue is empty')), actions ]);
	},

	refresh: function() {
		return this.load().then(L.bind(function(data) {
			var pre = document.getElementById('ms-log');
			if (pre) {
				/* follow the newest lines unless the reader scrolled up to read older ones */
				var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
				pre.textContent = this.logText(data[0]);
				if (atEnd)
					pre.scrollTop = pre.scrollHeight;
			}
			var old = document.getElementById('ms-queue');
			if (old)
				old.parentNode.replaceChild(this.renderQueue(data[1]), old);
		}, this));
	},

	act: function(promise) {
		return promise.then(L.bind(this.refresh, this)).catch(function(err) {
			ui.addNotification(null, E('p', {}, [ err.message ]), 'danger');
		});
	},

	handleDelete: function(id) {
		return this.act(ms.call('queueDelete', id));
	},

	render: function(data) {
		poll.add(L.bind(this.refresh, this), 15);
		/* the log opens at its newest lines: scroll once the page is in the document */
		var frames = 0;
		var scrollToEnd = function() {
			var pre = document.getElementById('ms-log');
			if (pre && pre.scrollHeight)
				pre.scrollTop = pre.scrollHeight;
			else if (frames++ < 300)
				window.requestAnimationFrame(scrollToEnd);
		};
		window.requestAnimationFrame(scrollToEnd);
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('Mail logs') ]),
			ms.readOnlyNote(),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Last %d log lines').format(LINES) ]),
				E('pre', { 'id': 'ms-log', 'style': 'max-height:30em;overflow:auto;white-space:pre-wrap' }, [ this.logText(data[0]) ])
			]),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Mail queue') ]),
				this.renderQueue(data[1])
			])
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
