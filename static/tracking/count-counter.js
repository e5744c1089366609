/*
 * Ibex count-counter.js: goatcounter.visit_count() of count.js (spec/goatcounter.md section
 * 8.5), kept out of count.js so that stays within its 1.5 KB gzipped budget.
 *
 * count.js's visit_count() is a loader: it appends this script, resolved against count.js's
 * own src (same origin and folder: /count-counter.js next to /count.js), and once it has run
 * calls goatcounter._visit_count(opt). This script defines that function and also puts it in
 * place of the loader as goatcounter.visit_count, so later calls need no request. It works
 * as well when a page includes it itself (before or after count.js).
 *
 * The endpoint and the default path follow count.js's rules, repeated here: keep the two
 * scripts in step. Plain ES5 without dependencies, minified at build time like count.js.
 */
(function (win, doc, loc) {
	var gc = win.goatcounter = win.goatcounter || {};
	var enc = encodeURIComponent;

	// As count.js: the data-goatcounter attribute wins over goatcounter.endpoint.
	var endpoint = function () {
		var script = doc.querySelector('script[data-goatcounter]');
		return (script && script.getAttribute('data-goatcounter')) || gc.endpoint;
	};

	// As count.js: the canonical link's path when it points at this host (a leading "www."
	// ignored on both sides), else the location's path and query.
	var pagePath = function () {
		var src = loc, link = doc.querySelector('link[rel=canonical][href]'), www = /^www\./;
		if (link) {
			link = new URL(link.href);
			if (link.hostname.replace(www, '') == loc.hostname.replace(www, ''))
				src = link;
		}
		return src.pathname + src.search || '/';
	};

	// A query string from an object, leaving out "", null, undefined and false (0 is sent).
	var query = function (obj) {
		var parts = [];
		for (var k in obj) {
			if (obj[k] || obj[k] === 0)
				parts.push(enc(k) + '=' + enc(obj[k]));
		}
		return '?' + parts.join('&');
	};

	// Insert the visitor counter (spec section 7.3), once the body exists: an iframe for type
	// "html" (default), else an image ("svg", "png"), appended to the element matching the
	// selector opt.append (default "body"). opt.attr replaces the default width and height.
	gc.visit_count = gc._visit_count = function (opt) {
		var insert = function () {
			opt = opt || {};
			var type = opt.type || 'html', html = type == 'html';
			var attrs = opt.attr || {width: 200, height: opt.no_branding ? 60 : 80};
			// The endpoint ends in /count: https://host/count -> https://host/counter/<path>.<type>
			attrs.src = endpoint() + 'er/' + enc(opt.path || pagePath()) + '.' + type +
				query({no_branding: opt.no_branding ? 1 : '', style: opt.style, start: opt.start, end: opt.end});
			if (html) {
				attrs.frameborder = 0;
				attrs.scrolling = 'no';
			}
			var elem = doc.createElement(html ? 'iframe' : 'img');
			for (var k in attrs)
				elem.setAttribute(k, attrs[k]);
			doc.querySelector(opt.append || 'body').appendChild(elem);
		};
		doc.body ? insert() : doc.addEventListener('DOMContentLoaded', insert);
	};
})(window, document, location);
