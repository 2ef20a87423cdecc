'use strict';
'require view';
'require ui';
'require uci';
'require mailserver.common as ms';

/*
 * Mesh backup: this node's id, pinned peers, nodes seen by zeroconf (trusting
 * one shows its full id to compare with `mailctl mesh id` on that router),
 * snapshots, backup, sync and restore (jobs).
 */

function code(text) {
	return E('code', { 'style': 'word-break:break-all' }, [ text || '-' ]);
}

return view.extend({
	load: function() {
		return Promise.all([ ms.fetch('getNodeId'), ms.fetch('listPeers'), ms.fetch('listDiscovered'), ms.fetch('listSnapshots'),
			uci.load('mailserver').catch(function() {}) ]);
	},

	reload: function() {
		return this.load().then(L.bind(function(data) {
			var old = document.getElementById('ms-mesh');
			old.parentNode.replaceChild(this.renderBody(data), old);
		}, this));
	},

	act: function(promise) {
		return promise.then(L.bind(function() { ui.hideModal(); return this.reload(); }, this))
			.catch(function(err) { ui.addNotification(null, E('p', {}, [ err.message ]), 'danger'); });
	},

	trust: function(node) {
		var address = node.address ? (node.port ? '%s:%d'.format(node.address, node.port) : node.address) : undefined;
		ui.showModal(_('Trust this node?'), [
			E('p', {}, [ _('Compare every character of this id with the one shown on the other router (its Mesh backup page, "This node"). Pin it only if they are identical: anyone on the network can announce a name.') ]),
			E('p', {}, [ _('Name: %s, address: %s').format(node.name || node.hostname || '-', address || '-') ]),
			E('pre', { 'style': 'white-space:pre-wrap;word-break:break-all;font-size:120%' }, [ node.node_id ]),
			E('div', { 'class': 'right' }, [
				E('button', { 'class': 'cbi-button', 'click': ui.hideModal }, [ _('Cancel') ]), ' ',
				E('button', { 'class': 'cbi-button cbi-button-positive', 'click': ui.createHandlerFn(this, function() {
					return this.act(ms.call('meshAddPeer', node.node_id, address));
				}) }, [ _('The ids match: trust') ])
			])
		]);
	},

	addPeer: function() {
		ui.showModal(_('Pin a peer'), [
			E('p', {}, [ _('Node id') ]), E('input', { 'id': 'ms-peer-id', 'class': 'cbi-input-text', 'style': 'width:100%' }),
			E('p', {}, [ _('Address (HOST[:PORT], optional)') ]), E('input', { 'id': 'ms-peer-addr', 'class': 'cbi-input-text' }),
			E('div', { 'class': 'right' }, [
				E('button', { 'class': 'cbi-button', 'click': ui.hideModal }, [ _('Cancel') ]), ' ',
				E('button', { 'class': 'cbi-button cbi-button-positive', 'click': ui.createHandlerFn(this, function() {
					return this.act(ms.call('meshAddPeer', document.getElementById('ms-peer-id').value.trim(),
						document.getElementById('ms-peer-addr').value.trim() || undefined));
				}) }, [ _('Pin') ])
			])
		]);
	},

	removePeer: function(nodeId) {
		return this.act(ms.call('meshRemovePeer', nodeId));
	},

	job: function(name, args) {
		var box = document.getElementById('ms-mesh-job');
		return ms.runJob(name, args, box).then(L.bind(function(result) {
			box.appendChild(E('p', {}, [ _('Done.') ]));
			return this.reload();
		}, this)).catch(function() {});
	},

	restore: function(snap) {
		ui.showModal(_('Restore snapshot %s?').format(snap.id), [
			E('p', {}, [ _('Mail, accounts, keys and configuration are replaced by the state of %s (%s).').format(snap.time, snap.hostname) ]),
			E('div', { 'class': 'right' }, [
				E('button', { 'class': 'cbi-button', 'click': ui.hideModal }, [ _('Cancel') ]), ' ',
				E('button', { 'class': 'cbi-button cbi-button-negative', 'click': ui.createHandlerFn(this, function() {
					ui.hideModal();
					return this.job('meshRestore', [ snap.name || snap.id ]);
				}) }, [ _('Restore') ])
			])
		]);
	},

	renderBody: function(data) {
		var self = this, w = ms.writable();
		var id = data[0], peers = data[1], found = data[2], snaps = data[3];
		var pinned = {};
		ms.list(peers).forEach(function(p) { pinned[p.node_id] = true; });
		var syncable = uci.get('mailserver', 'mesh', 'enabled') == '1' && ms.list(peers).length > 0;
		var last = function(row, cell) { return w ? row.concat([ cell ]) : row; };
		var hdr = function(row) { return w ? row.concat([ '' ]) : row; };

		return E('div', { 'id': 'ms-mesh' }, [
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('This node') ]),
				id.error ? ms.errorBox(id.error) : ms.table([ _('Node id'), _('Public key') ], [ [ code(id.node_id), code(id.public_key) ] ])
			]),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Pinned peers') ]),
				peers.error ? ms.errorBox(peers.error) : ms.table(hdr([ _('Name'), _('Node id'), _('Address'), _('Last seen'), _('Last sync'), _('Stored') ]),
					ms.list(peers).map(function(p) {
						return last([ p.name, code(p.node_id), p.address ? '%s:%s'.format(p.address, p.port) : '-',
							p.last_seen ? ms.date(p.last_seen) : _('never'), p.last_sync ? ms.date(p.last_sync) : _('never'), ms.size(p.stored_bytes) ],
							ms.button(_('Unpin'), 'remove', L.bind(self.removePeer, self, p.node_id)));
					}), _('No peers pinned')),
				ms.button(_('Pin a peer by id'), 'add', L.bind(this.addPeer, this))
			]),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Discovered on the network') ]),
				found.error ? ms.errorBox(found.error) : ms.table(hdr([ _('Name'), _('Node id'), _('Address') ]),
					ms.list(found).map(function(n) {
						return last([ n.name || n.hostname || (n.up === false ? _('down') : n.up ? _('up') : '-'), code(n.node_id), n.address ? '%s:%s'.format(n.address, n.port || '') : '-' ],
							(n.pinned || pinned[n.node_id]) ? _('pinned') : ms.button(_('Trust…'), 'add', L.bind(self.trust, self, n)));
					}), _('No other nodes seen'))
			]),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Snapshots') ]),
				snaps.error ? ms.errorBox(snaps.error) : ms.table(hdr([ _('Id'), _('Time'), _('Host'), _('Files'), _('Size'), _('New') ]),
					ms.list(snaps).map(function(s) {
						return last([ code(s.id), ms.date(s.time), s.hostname, s.files, ms.size(s.bytes), ms.size(s.new_bytes) ],
							ms.button(_('Restore…'), 'reset', L.bind(self.restore, self, s)));
					}), _('No backup yet')),
				E('div', { 'id': 'ms-mesh-job' }),
				w ? E('div', { 'class': 'cbi-page-actions' }, [
					ms.button(_('Back up now'), 'apply', L.bind(this.job, this, 'meshBackup', [])), ' ',
					/* a sync needs mesh backup enabled and a pinned peer to talk to */
					syncable ? ms.button(_('Push to peers'), 'action', L.bind(this.job, this, 'meshSync', [ 'push' ])) : '', ' ',
					syncable ? ms.button(_('Pull from peers'), 'action', L.bind(this.job, this, 'meshSync', [ 'pull' ])) : ''
				]) : ''
			])
		]);
	},

	render: function(data) {
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('Mesh backup') ]),
			E('div', { 'class': 'cbi-map-descr' }, [ _('Encrypted backups held by pinned peer routers. Peers are trusted by node id only.') ]),
			ms.readOnlyNote(),
			this.renderBody(data)
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
