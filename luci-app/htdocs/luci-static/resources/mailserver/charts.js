'use strict';
'require baseclass';

/*
 * The Overview's pictures, drawn as plain SVG the way LuCI's realtime graphs are
 * (filled shapes at 0.4 opacity with a solid outline, thin grid lines, a legend of
 * underlined labels): messages per hour and per day as bars, the queue as a line,
 * and each mailbox's storage against its quota. Data: getCharts.
 */

var NS = 'http://www.w3.org/2000/svg';
var WIDTH = 720, HEIGHT = 150, LEFT = 44, TOP = 8, BOTTOM = 20;
var COLORS = { received: '#0000ff', sent: '#008000', rejected: '#ff0000', queue: '#ff6600', used: '#0000ff' };

function svg(tag, attrs, children) {
	var el = document.createElementNS(NS, tag);
	Object.keys(attrs || {}).forEach(function(k) { el.setAttribute(k, attrs[k]); });
	(children || []).forEach(function(c) {
		el.appendChild(typeof c == 'string' ? document.createTextNode(c) : c);
	});
	return el;
}

function paint(color) {
	return 'fill:%s;fill-opacity:0.4;stroke:%s;stroke-width:1'.format(color, color);
}

/* A round top for the y axis, at least `max`: 2, 4 or 10 times a power of ten, so the middle grid
 * line (half the top) is a whole count too. */
function ceiling(max) {
	var step = Math.pow(10, Math.floor(Math.log10(Math.max(max, 1))));
	return [ 2, 4, 10, 20 ].map(function(f) { return f * step; }).filter(function(v) { return v >= max; })[0];
}

function frame(id, top, height, label) {
	var base = TOP + height;
	var grid = [ 0, 0.5, 1 ].map(function(f) {
		var y = base - f * height;
		return svg('g', {}, [
			svg('line', { x1: LEFT, y1: y, x2: WIDTH, y2: y, style: 'stroke:currentColor;stroke-width:0.3;stroke-opacity:0.6' }),
			svg('text', { x: LEFT - 4, y: y + 4, 'text-anchor': 'end', style: 'fill:currentColor;font-size:9pt' }, [ label(f * top) ])
		]);
	});
	return svg('svg', { id: id, viewBox: '0 0 %d %d'.format(WIDTH, TOP + height + BOTTOM), width: '100%',
		role: 'img', style: 'max-width:%dpx;color:inherit'.format(WIDTH) }, grid);
}

function legend(items) {
	return E('div', { 'style': 'margin:.25em 0 1em %dpx'.format(LEFT) }, items.map(function(item) {
		return E('span', { 'style': 'margin-right:1.5em' }, [
			E('strong', { 'style': 'border-bottom:2px solid %s'.format(item[1]) }, [ item[0] ])
		]);
	}));
}

return baseclass.extend({
	/* Grouped bars, one group per row (an hour or a day), one bar per series; a row with no data
	 * (the router was off) keeps its place and draws nothing. `tick(row, i)` labels the x axis or not. */
	bars: function(id, rows, series, names, tick, when) {
		var height = HEIGHT - TOP - BOTTOM;
		var max = 0;
		rows.forEach(function(r) { series.forEach(function(s) { max = Math.max(max, r[s] || 0); }); });
		var top = ceiling(max), slot = (WIDTH - LEFT) / rows.length, bw = (slot - 2) / series.length;
		var chart = frame(id, top, height, function(v) { return String(Math.round(v)); });
		rows.forEach(function(r, i) {
			var x = LEFT + i * slot + 1;
			var group = svg('g', { 'class': 'ms-slot', 'data-start': r.start });
			if (r[series[0]] != null)
				series.forEach(function(s, j) {
					var h = (r[s] || 0) / top * height;
					group.appendChild(svg('rect', { 'class': 'ms-bar ms-' + s, x: x + j * bw, y: TOP + height - h,
						width: Math.max(bw - 0.5, 0.5), height: h, style: paint(COLORS[s]), 'data-value': r[s] }, [
						svg('title', {}, [ '%s: %s %d'.format(when(r), names[j], r[s]) ])
					]));
				});
			var text = tick(r, i);
			if (text)
				group.appendChild(svg('text', { x: x + slot / 2, y: TOP + height + 14, 'text-anchor': 'middle',
					style: 'fill:currentColor;font-size:8pt' }, [ text ]));
			chart.appendChild(group);
		});
		return E('div', {}, [ chart, legend(series.map(function(s, j) { return [ names[j], COLORS[s] ]; })) ]);
	},

	/* The queue's hourly samples as one line; hours not sampled break it. */
	line: function(id, rows, name, tick) {
		var height = 60, max = 0;
		rows.forEach(function(r) { max = Math.max(max, r.queue || 0); });
		var top = ceiling(max), slot = (WIDTH - LEFT) / rows.length;
		var chart = frame(id, top, height, function(v) { return String(Math.round(v)); });
		var runs = [ [] ];
		rows.forEach(function(r, i) {
			var x = LEFT + (i + 0.5) * slot;
			if (r.queue == null) {
				runs.push([]);
				return;
			}
			runs[runs.length - 1].push('%.1f,%.1f'.format(x, TOP + height - r.queue / top * height));
			var text = tick(r, i);
			if (text)
				chart.appendChild(svg('text', { x: x, y: TOP + height + 14, 'text-anchor': 'middle',
					style: 'fill:currentColor;font-size:8pt' }, [ text ]));
		});
		runs.filter(function(points) { return points.length; }).forEach(function(points) {
			chart.appendChild(svg(points.length > 1 ? 'polyline' : 'circle', points.length > 1 ?
				{ 'class': 'ms-line', points: points.join(' '), style: 'fill:none;stroke:%s;stroke-width:2'.format(COLORS.queue) } :
				{ 'class': 'ms-line', cx: points[0].split(',')[0], cy: points[0].split(',')[1], r: 2, style: paint(COLORS.queue) }));
		});
		return E('div', {}, [ chart, legend([ [ name, COLORS.queue ] ]) ]);
	},

	/* One bar per mailbox: the quota is the full width (no quota: the largest mailbox is), the used part filled. */
	storage: function(id, boxes, label) {
		var row = 22, left = 220;
		var largest = 1;
		boxes.forEach(function(b) { largest = Math.max(largest, b.quota_bytes || b.usage_bytes); });
		var chart = svg('svg', { id: id, viewBox: '0 0 %d %d'.format(WIDTH, Math.max(boxes.length, 1) * row + 4),
			width: '100%', role: 'img', style: 'max-width:%dpx'.format(WIDTH) });
		boxes.forEach(function(b, i) {
			var y = i * row + 4, full = WIDTH - left - 4;
			var whole = b.quota_bytes ? full : full * b.usage_bytes / largest;
			var used = b.quota_bytes ? full * Math.min(b.usage_bytes / b.quota_bytes, 1) : whole;
			var over = b.quota_bytes && b.usage_bytes >= 0.9 * b.quota_bytes;
			chart.appendChild(svg('g', { 'class': 'ms-mailbox' }, [
				svg('text', { x: left - 8, y: y + 13, 'text-anchor': 'end', style: 'fill:currentColor;font-size:9pt' }, [ b.address ]),
				b.quota_bytes ? svg('rect', { x: left, y: y, width: full, height: row - 6,
					style: 'fill:none;stroke:currentColor;stroke-width:0.5;stroke-opacity:0.6' }) : svg('g'),
				svg('rect', { 'class': 'ms-used', x: left, y: y, width: Math.max(used, 1), height: row - 6,
					style: paint(over ? COLORS.rejected : COLORS.used) }, [ svg('title', {}, [ label(b) ]) ]),
				svg('text', { x: left + 6, y: y + 13, style: 'fill:currentColor;font-size:8pt' }, [ label(b) ])
			]));
		});
		return chart;
	}
});
