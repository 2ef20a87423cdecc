'use strict';
'require baseclass';

/*
 * Validators for the Settings form. Each mirrors one parser of the agent's
 * secumail/config/validate.py and returns true or the same problem text, so
 * the browser refuses exactly what `mailctl` would refuse later
 * (tests/unit/luci/test_validate_js.py runs both on the same values).
 */

var LABEL = /^(?!-)[a-z0-9-]{1,63}$/;
var LOCALPART = /^[A-Za-z0-9_][A-Za-z0-9_+-]*(\.[A-Za-z0-9_+-]+)*$/;
var TRUE_WORDS = [ '1', 'yes', 'on', 'true', 'enabled' ];
var FALSE_WORDS = [ '0', 'no', 'off', 'false', 'disabled' ];

function str(value) {
	return (value == null) ? '' : String(value);
}

function toAscii(name) {
	/* IDNA: the URL parser gives the A-label form, as Python's 'idna' codec does. */
	if (/^[\x00-\x7f]*$/.test(name))
		return name.toLowerCase();
	try {
		return new URL('http://' + name + '/').hostname;
	}
	catch (e) {
		return null;
	}
}

function ipv4(value) {
	var m = /^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$/.exec(value);
	if (!m)
		return false;
	for (var i = 1; i <= 4; i++)
		if (+m[i] > 255 || (m[i].length > 1 && m[i][0] == '0'))
			return false;
	return true;
}

function ipv6(value) {
	if (!/^[0-9A-Fa-f:.]+$/.test(value) || value.indexOf(':') < 0)
		return false;
	var parts = value.split('::');
	if (parts.length > 2)
		return false;
	var groups = 0;
	for (var p = 0; p < parts.length; p++) {
		if (parts[p] === '')
			continue;
		var items = parts[p].split(':');
		for (var i = 0; i < items.length; i++) {
			var last = (p == parts.length - 1 && i == items.length - 1);
			if (last && items[i].indexOf('.') >= 0) {
				if (!ipv4(items[i]))
					return false;
				groups += 2;
			}
			else if (/^[0-9A-Fa-f]{1,4}$/.test(items[i])) {
				groups++;
			}
			else {
				return false;
			}
		}
	}
	return parts.length == 2 ? groups < 8 : groups == 8;
}

var V = baseclass.extend({
	trueWords: TRUE_WORDS,
	falseWords: FALSE_WORDS,

	boolean: function(value) {
		var word = str(value).trim().toLowerCase();
		if (TRUE_WORDS.indexOf(word) >= 0 || FALSE_WORDS.indexOf(word) >= 0)
			return true;
		return _('is not a boolean (use 1/0, yes/no, on/off, true/false)');
	},

	integer: function(min, max) {
		return function(value) {
			var text = str(value).trim();
			if (!/^-?[0-9]+$/.test(text))
				return _('is not a whole number');
			var n = parseInt(text, 10);
			if ((min != null && n < min) || (max != null && n > max))
				return _('is out of range (%s-%s)').format(min == null ? '' : min, max == null ? '' : max);
			return true;
		};
	},

	/* Seconds from '900', '15m', '1h', '2d'; the range is in seconds */
	duration: function(min, max) {
		var units = { '': 1, 's': 1, 'm': 60, 'h': 3600, 'd': 86400 };
		var spell = function(n) {
			var sizes = [ [ 'd', 86400 ], [ 'h', 3600 ], [ 'm', 60 ] ];
			for (var i = 0; i < sizes.length; i++)
				if (n && n % sizes[i][1] == 0)
					return (n / sizes[i][1]) + sizes[i][0];
			return n + 's';
		};
		return function(value) {
			var m = /^([0-9]{1,7})\s*([smhd]?)$/i.exec(str(value).trim());
			if (!m)
				return _('is not a duration (like 30m, 1h or 1d)');
			var n = parseInt(m[1], 10) * units[m[2].toLowerCase()];
			if (n < min || n > max)
				return _('is out of range (%s-%s)').format(spell(min), spell(max));
			return true;
		};
	},

	/* MiB, or 'auto' (the agent picks what the enabled features need) */
	memoryLimit: function(value) {
		if (str(value).trim().toLowerCase() == 'auto')
			return true;
		var text = str(value).trim();
		if (!/^-?[0-9]+$/.test(text))
			return _('is not a whole number and is not \'auto\'');
		var n = parseInt(text, 10);
		if (n < 64 || n > 65536)
			return _('is out of range (%s-%s) and is not \'auto\'').format(64, 65536);
		return true;
	},

	decimal: function(min, max) {
		return function(value) {
			var text = str(value).trim();
			if (!/^-?[0-9]+(\.[0-9]+)?$/.test(text))
				return _('is not a number (like 6 or 7.5)');
			var n = parseFloat(text);
			if (n < min || n > max)
				return _('is out of range (%s-%s)').format(min, max);
			return true;
		};
	},

	/* zone[=reply filter][*weight], as postscreen_dnsbl_sites takes it */
	dnsblSite: function(value) {
		var octet = '(?:[0-9]{1,3}|\\[[0-9]{1,3}(?:\\.\\.[0-9]{1,3}|(?:;[0-9]{1,3})*)\\])';
		var re = new RegExp('^([^=*\\s]+)(?:=' + octet + '(?:\\.' + octet + '){3})?(?:\\*-?[0-9]{1,3})?$');
		var m = re.exec(str(value).trim());
		if (!m)
			return _('is not a DNS blocklist (zone, optionally =127.0.0.[2..11] and *weight)');
		if (V.prototype.domain(m[1]) !== true)
			return _('does not start with a DNS zone name (like zen.spamhaus.org)');
		return true;
	},

	port: function(value) {
		var text = str(value).trim();
		if (!/^[0-9]+$/.test(text) || +text < 1 || +text > 65535)
			return _('is not a valid port (1-65535)');
		return true;
	},

	optionalPort: function(value) {
		var text = str(value).trim();
		if (text === '' || text === '0')
			return true;
		return V.prototype.port(text);
	},

	domain: function(value) {
		var text = str(value).trim().replace(/\.$/, '');
		if (!text || /\s/.test(text))
			return _('is not a valid domain name');
		var ascii = toAscii(text);
		if (ascii == null)
			return _('is not a valid domain name');
		var labels = ascii.split('.');
		if (ascii.length > 253 || labels.length < 2)
			return _('is not a valid domain name');
		for (var i = 0; i < labels.length; i++)
			if (!LABEL.test(labels[i]) || labels[i][labels[i].length - 1] == '-')
				return _('is not a valid domain name');
		if (/^[0-9]+$/.test(labels[labels.length - 1]))
			return _('is not a valid domain name (the last label is numeric)');
		return true;
	},

	hostName: function(value) {
		var text = str(value).trim().replace(/\.$/, '').toLowerCase();
		if (text.indexOf('.') >= 0)
			return V.prototype.domain(text);
		if (!LABEL.test(text) || text[text.length - 1] == '-')
			return _('is not a valid host name');
		return true;
	},

	host: function(value) {
		/* an IP address (IPv6 with or without brackets) or a host name, without a port */
		var text = str(value).trim();
		var bare = (text[0] == '[' && text[text.length - 1] == ']') ? text.slice(1, -1) : text;
		if (ipv4(bare) || ipv6(bare) || V.prototype.hostName(text) === true)
			return true;
		return _('is not an IP address or a host name (give the port as its own option)');
	},

	nodeId: function(value) {
		/* a mesh node id in any case, with or without dashes (32 base32 characters) */
		var compact = str(value).replace(/[\s-]/g, '').toUpperCase();
		if (compact === '')
			return _('is not a node id: it is required (\'mailctl mesh id\' shows it on that node)');
		if (!/^[A-Z2-7]{32}$/.test(compact))
			return _('is not a node id (32 base32 characters, as \'mailctl mesh id\' shows)');
		return true;
	},

	localPart: function(value) {
		var text = str(value).trim();
		if (!LOCALPART.test(text) || text.length > 64)
			return _('is not a valid mailbox name');
		return true;
	},

	email: function(value) {
		var text = str(value).trim();
		var at = text.lastIndexOf('@');
		if (at < 0)
			return _('is not a valid e-mail address');
		if (V.prototype.localPart(text.substring(0, at)) !== true || V.prototype.domain(text.substring(at + 1)) !== true)
			return _('is not a valid e-mail address');
		return true;
	},

	absolutePath: function(value) {
		var text = str(value).trim();
		if (text[0] != '/' || text.indexOf('\0') >= 0)
			return _('is not an absolute path');
		if (text.split('/').indexOf('..') >= 0)
			return _('must not contain \'..\'');
		return true;
	},

	choice: function(allowed) {
		return function(value) {
			if (allowed.indexOf(str(value).trim()) < 0)
				return _('is not one of: %s').format(allowed.join(', '));
			return true;
		};
	},

	ipv4Interface: function(value) {
		var text = str(value).trim();
		var m = /^([^/]+)(\/([0-9]{1,2}))?$/.exec(text);
		if (!m || !ipv4(m[1]) || (m[3] != null && +m[3] > 32))
			return _('is not an IPv4 address with prefix (like 10.231.0.2/24)');
		if (m[3] == null)
			return _('needs a prefix length (like 10.231.0.2/24)');
		return true;
	},

	ipAddress: function(value) {
		var text = str(value).trim();
		if (ipv4(text) || ipv6(text))
			return true;
		return _('is not an IP address');
	},

	serverAddress: function(value) {
		/* an IP address with an optional port: 192.0.2.1:5353, [2001:db8::1]:5353 */
		var text = str(value).trim(), host = text, port = null;
		var m = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
		if (m) {
			host = m[1];
			port = (m[2] === undefined) ? null : m[2];
		}
		else if (text.split(':').length == 2) {
			host = text.split(':')[0];
			port = text.split(':')[1];
		}
		if (!ipv4(host) && !ipv6(host))
			return _('must be an IP address (optionally with :port)');
		if (port !== null && !(/^[0-9]{1,5}$/.test(port) && +port > 0 && +port < 65536))
			return _('has no valid port (1-65535)');
		return true;
	},

	url: function(value) {
		if (!/^https?:\/\/[^\s/$.?#][^\s]*$/.test(str(value).trim()))
			return _('is not an http(s) URL');
		return true;
	},

	httpsUrl: function(value) {
		var ok = V.prototype.url(value);
		if (ok !== true)
			return ok;
		if (!/^https:\/\//i.test(str(value).trim()))
			return _('is not an https:// URL');
		return true;
	},

	loopbackHttpOk: function(value) {
		/* https://, or http:// to this machine (127.0.0.0/8, ::1, localhost) */
		var m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(\[[^\]]*\]|[^\/:?#@]*@?[^\/:?#]*)/.exec(str(value).trim());
		if (!m)
			return false;
		var scheme = m[1].toLowerCase(), host = m[2].replace(/^.*@/, '').toLowerCase();
		if (scheme == 'https')
			return true;
		if (scheme != 'http' || host === '')
			return false;
		if (host == 'localhost' || host == '[::1]')
			return true;
		return ipv4(host) && host.split('.')[0] == '127';
	},

	publicIpUrl: function(value) {
		var ok = V.prototype.url(value);
		if (ok !== true)
			return ok;
		if (!V.prototype.loopbackHttpOk(value))
			return _('is not an https:// URL (http:// only to this machine: 127.0.0.1, ::1, localhost)');
		return true;
	},

	ipv4OrAuto: function(value) {
		var text = str(value).trim();
		if (text === '' || text == 'auto' || ipv4(text))
			return true;
		return _('is not an IPv4 address, \'auto\' or empty');
	},

	interfaceName: function(value) {
		if (!/^[A-Za-z0-9_.-]{1,15}$/.test(str(value).trim()))
			return _('is not a valid network interface name (1-15 characters)');
		return true;
	},

	nameWord: function(value) {
		if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(str(value).trim()))
			return _('is not a valid name (letters, digits, \'-\', \'_\', \'.\')');
		return true;
	},

	/* A cgroup below the root, as lxc.cgroup.dir takes it (validate.cgroup_path). */
	cgroupPath: function(value) {
		var ok = str(value).trim().split('/').every(function(part) {
			return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(part) && part != '..';
		});
		if (!ok)
			return _('is not a cgroup path below the root (names of letters, digits, \'-\', \'_\', \'.\' joined by \'/\')');
		return true;
	},

	/* A relay login: printable, no spaces, no ':' (validate.sasl_user). */
	saslUser: function(value) {
		var text = str(value).trim();
		if (text === '')
			return _('is required (the login the relay gave you)');
		if (text.length > 256 || /[\s:\x00-\x1f\x7f]/.test(text))
			return _('is not a valid login (printable, no spaces, no \':\')');
		return true;
	},

	/* A domain for an SPF include: mechanism, with or without "include:" (validate.spf_mechanism). */
	spfInclude: function(value) {
		var text = str(value).trim().replace(/^include:/i, '');
		if (V.prototype.domain(text) !== true)
			return _('is not a domain name for an SPF include (e.g. spf.isp.example)');
		return true;
	},

	text: function(value) {
		return true;
	},

	optional: function(check) {
		return function(value) {
			return (str(value).trim() === '') ? true : check(value);
		};
	},

	/* A form option validator: LuCI calls it as validate(section_id, value). */
	option: function(check) {
		return function(section_id, value) {
			var result = check(value);
			return (result === true) ? true : '%s %s'.format(JSON.stringify(str(value)), result);
		};
	}
});

return V;
