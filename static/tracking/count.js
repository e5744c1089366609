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
 * the terse messages and the browser globals passed in as (minifiable) arguments.
 */
(function (win, doc, loc, nav) {
	var gc = win.goatcounter = win.goatcounter || {};
	var script = doc.querySelector('script[data-goatcounter]');
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
			if (link.hostname.replace(www, '') === loc.hostname.replace(www, ''))
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

	// A new element with attributes, appended to parent (default: the body).
	var append = function (tag, attrs, parent) {
		var elem = doc.createElement(tag);
		for (var k in attrs)
			elem.setAttribute(k, attrs[k]);
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
			return typeof v === 'function' ? v(fallback) : v != null ? v : fallback;
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

	var skipped = function () {
		try {
			return localStorage.getItem('skipgc') === 't';
		} catch (err) { /* storage blocked: not skipped */ }
	};

	// The reason not to count this page, or false (in the spec's order).
	gc.filter = function () {
		if (doc.visibilityState === 'prerender')
			return 'visibilityState';
		if (!gc.allow_frame && parent !== win)
			return 'frame';
		if (!gc.allow_local) {
			if (/localhost$|^(127|10|192\.168|172\.(1[6-9]|2\d|3[01]))\.|^0\.0\.0\.0$/.test(loc.hostname))
				return 'localhost';
			if (loc.protocol === 'file:')
				return 'localfile';
		}
		return skipped() ? 'disabled with #toggle-goatcounter' : false;
	};

	// Count a pageview (or an event, with vars.event) by beacon; if the browser has no
	// sendBeacon or refuses, by a hidden image (the 1x1 GIF), removed once loaded.
	gc.count = function (vars) {
		var reason = gc.filter(), url = !reason && gc.url(vars);
		if (reason)
			return warn('not counting because of: ' + reason);
		// No URL: no endpoint (url() warned) or the path callback returned null on purpose.
		if (url && !(nav.sendBeacon && nav.sendBeacon(url))) {
			var img = append('img', {src: url, hidden: ''});
			img.onload = function () {
				doc.body.removeChild(img);
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

	// Run f now if the body exists, else once the document is parsed.
	var onLoad = function (f) {
		doc.body ? f() : doc.addEventListener('DOMContentLoaded', f);
	};

	// Insert the visitor counter (spec section 7.3): an iframe for type "html" (default),
	// else an image ("svg", "png"), appended to the element opt.append (default "body").
	gc.visit_count = function (opt) {
		onLoad(function () {
			opt = opt || {};
			var type = opt.type || 'html', html = type === 'html';
			var attrs = opt.attr || {width: 200, height: opt.no_branding ? 60 : 80};
			// The endpoint ends in /count: https://host/count -> https://host/counter/<path>.<type>
			attrs.src = endpoint() + 'er/' + enc(opt.path || pagePath()) + '.' + type +
				query({no_branding: opt.no_branding ? 1 : '', style: opt.style, start: opt.start, end: opt.end});
			if (html) {
				attrs.frameborder = 0;
				attrs.scrolling = 'no';
			}
			append(html ? 'iframe' : 'img', attrs, doc.querySelector(opt.append || 'body'));
		});
	};

	// Loading any page with #toggle-goatcounter switches counting off, or back on, for this
	// browser (filter() reads the flag).
	if (loc.hash === '#toggle-goatcounter') {
		var off = !skipped();
		try {
			off ? localStorage.setItem('skipgc', 't') : localStorage.removeItem('skipgc');
			alert('goatcounter: ' + (off ? 'disabled' : 'enabled') + ' in this browser');
		} catch (err) { /* storage blocked: nothing to toggle */ }
	}

	// Count the pageview once the page is visible (not while prerendered or in a background
	// tab), then bind the click events.
	if (!gc.no_onload) {
		onLoad(function () {
			var visible = function () {
				if (doc.hidden)  // also true while prerendering
					return;
				doc.removeEventListener('visibilitychange', visible);
				gc.count();
			};
			doc.addEventListener('visibilitychange', visible);
			visible();
			if (!gc.no_events)
				gc.bind_events();
		});
	}
})(window, document, location, navigator);
