/*
 * Ibex count.js: GoatCounter-compatible tracking script (spec/goatcounter.md section 8).
 *
 *   <script data-goatcounter="https://stats.example.org/count" async
 *           src="https://stats.example.org/count.js"></script>
 *
 * Counts a pageview on load through the /count endpoint, counts clicks on elements with
 * data-goatcounter-click, and exposes window.goatcounter.{count, url, filter, get_data,
 * get_query, bind_events, visit_count}. Plain ES5 without dependencies. The served copy is
 * minified at build time (scripts/build-tracking.mjs); its budget is 1.5 KB gzipped, hence
 * the terse messages, the browser globals passed in as (minifiable) arguments, and
 * visit_count() living in a companion script:
 *
 * visit_count() (the visitor counter, rarely used) is implemented in count-counter.js, served
 * next to this script (/count-counter.js). goatcounter.visit_count here is a loader: each call
 * appends <script src=count-counter.js>, resolved against this script's own src (so the
 * same origin and folder, whatever the name count.js is served under), and once it has run
 * calls goatcounter._visit_count(opt). count-counter.js defines that function and also puts
 * it in place of this loader, so later calls need no request. Calls made while it loads each
 * load it (from the HTTP cache after the first); a copy that fails to define _visit_count
 * throws once instead of loading itself in a loop. count-counter.js repeats this script's
 * endpoint and canonical-path rules; keep the two in step.
 */
(function (win, doc, loc, nav) {
	var gc = win.goatcounter = win.goatcounter || {};
	var script = doc.querySelector('script[data-goatcounter]');
	// This script's element, for the companion's URL: currentScript, or (old browsers) the
	// data-goatcounter script, which is this one in the usual embed.
	var self = doc.currentScript || script;
	var enc = encodeURIComponent;

	// data-goatcounter<suffix> of an element (suffix "" is the endpoint, "-click", …).
	var data = function (elem, suffix) {
		return elem.getAttribute('data-goatcounter' + suffix);
	};

	var warn = function (msg) {
		console.warn('goatcounter: ' + msg);
	};

	// data-goatcounter-settings may set only these keys; invalid JSON is logged and ignored.
	var settings = script && data(script, '-settings');
	if (settings) {
		try {
			settings = JSON.parse(settings);
			for (var key in settings) {
				if (/^(no_onload|no_events|allow_local|allow_frame|path|title|referrer|event)$/.test(key))
					gc[key] = settings[key];
			}
		} catch (err) {
			console.error('goatcounter: ' + err);
		}
	}

	// The data-goatcounter attribute wins over goatcounter.endpoint (code behaviour; the
	// help page says the opposite, see the spec's DOC-CONFLICT note).
	var endpoint = function () {
		return (script && data(script, '')) || gc.endpoint;
	};

	// The page's path: the canonical link's path when it points at this host (a leading
	// "www." ignored on both sides), else the location's path and query.
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

	// A new hidden element (img, script) with that src, appended to parent (default: the body).
	var append = function (tag, src, parent) {
		var elem = doc.createElement(tag);
		elem.src = src;
		elem.hidden = 1;
		return (parent || doc.body).appendChild(elem);
	};

	// The parameters of one /count request (spec section 7.1); b flags automated browsers.
	gc.get_data = function (vars) {
		vars = vars || {};
		// One value: vars[key] (from the count() call) or else the page setting. The default
		// applies when both are missing (null or undefined; "" and 0 are values) or the value
		// is a callback, which receives the default.
		var resolve = function (key, fallback) {
			var v = vars[key] != null ? vars[key] : gc[key];
			return typeof v == 'function' ? v(fallback) : v != null ? v : fallback;
		};
		return {
			p: resolve('path', pagePath()),
			r: resolve('referrer', doc.referrer),
			t: resolve('title', doc.title),
			e: !!(vars.event || gc.event),
			s: screen.width,
			b: win.callPhantom || win._phantom || win.phantom ? 150 :
				win.__nightmare ? 151 :
				doc.__selenium_unwrapped || doc.__webdriver_evaluate || doc.__driver_evaluate ? 152 :
				nav.webdriver ? 153 : 0,
			q: loc.search,
			ns: vars.no_session  // left out when not given (undefined)
		};
	};

	// The URL to send, or undefined when the path callback returned null or there is no
	// endpoint. rnd is a cache buster.
	gc.url = function (vars) {
		var params = gc.get_data(vars), ep = endpoint();
		if (params.p === null)
			return;
		if (!ep)
			return warn('no endpoint');
		params.rnd = Math.random().toString(36).substr(2, 5);
		return ep + query(params);
	};

	// localStorage.skipgc, set by #toggle-goatcounter (storage blocked: not skipped).
	var skipped = function () {
		try {
			return localStorage.skipgc == 't';
		} catch (err) { /* not skipped */ }
	};

	// The reason not to count this page, or false (in the spec's order).
	gc.filter = function () {
		return doc.visibilityState == 'prerender' ? 'visibilityState' :
			!gc.allow_frame && parent != win ? 'frame' :
			!gc.allow_local && /localhost$|^(127|10|192\.168|172\.(1[6-9]|2\d|3[01]))\.|^0\.0\.0\.0$/.test(loc.hostname) ? 'localhost' :
			!gc.allow_local && loc.protocol == 'file:' ? 'localfile' :
			skipped() ? 'disabled with #toggle-goatcounter' : false;
	};

	// Count a pageview (or an event, with vars.event) by beacon; if the browser has no
	// sendBeacon or refuses, by a hidden image (the 1x1 GIF), removed once loaded.
	gc.count = function (vars) {
		var reason = gc.filter(), url;
		if (reason)
			return warn('not counting because of: ' + reason);
		url = gc.url(vars);
		// No URL: no endpoint (url() warned) or the path callback returned null on purpose.
		if (url && !(nav.sendBeacon && nav.sendBeacon(url))) {
			append('img', url).onload = function () {
				doc.body.removeChild(this);
			};
		}
	};

	// A parameter of the page's own query string: raw value, case-insensitive name (a plain
	// name: it is used in a regular expression), undefined when absent.
	gc.get_query = function (name) {
		var m = loc.search.match(RegExp('[?&]' + name + '=([^&]*)', 'i'));
		if (m)
			return m[1];
	};

	// Count clicks (and middle clicks) on every data-goatcounter-click element not bound yet.
	gc.bind_events = function () {
		[].forEach.call(doc.querySelectorAll('[data-goatcounter-click]'), function (elem) {
			var send = function () {
				gc.count({
					event: true,
					path: data(elem, '-click') || elem.name || elem.id || '',
					title: data(elem, '-title') || elem.title || elem.innerHTML.substr(0, 200),
					referrer: data(elem, '-referrer') || data(elem, '-referral') || '',
					no_session: /^(1|t|true)$/.test(data(elem, '-no-session'))
				});
			};
			if (!data(elem, '-bound')) {
				elem.addEventListener('click', send);
				elem.addEventListener('auxclick', send);
				elem.setAttribute('data-goatcounter-bound', 'true');
			}
		});
	};

	// The visitor counter (spec section 8.5): loads count-counter.js, see the top comment.
	gc.visit_count = function (opt) {
		append('script', new URL('count-counter.js', self.src), doc.head).onload = function () {
			gc._visit_count(opt);
		};
	};

	// Loading any page with #toggle-goatcounter switches counting off, or back on, for this
	// browser (filter() reads the flag).
	if (loc.hash == '#toggle-goatcounter') {
		try {
			var store = localStorage;
			store.skipgc == 't' ? delete store.skipgc : store.skipgc = 't';
			alert('goatcounter: ' + (store.skipgc ? 'disabled' : 'enabled') + ' in this browser');
		} catch (err) { /* storage blocked: nothing to toggle */ }
	}

	// Count the pageview once the page is visible (not while prerendered or in a background
	// tab), then bind the click events; both once the body exists.
	if (!gc.no_onload) {
		var onLoad = function () {
			var counted, visible = function () {
				if (!doc.hidden && !counted) {  // hidden is also true while prerendering
					counted = 1;
					gc.count();
				}
			};
			doc.addEventListener('visibilitychange', visible);
			visible();
			if (!gc.no_events)
				gc.bind_events();
		};
		doc.body ? onLoad() : doc.addEventListener('DOMContentLoaded', onLoad);
	}
})(window, document, location, navigator);
