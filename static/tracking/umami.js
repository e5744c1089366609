/*
 * Ibex umami.js: Umami v1-compatible tracker (spec/umami.md section 12).
 *
 *   <script async defer data-website-id="<website uuid>"
 *           src="https://stats.example.org/umami.js"></script>
 *
 * Posts pageviews and events as JSON to <root>/api/collect, follows history.pushState and
 * replaceState, sends events for elements with umami--<event>--<name> classes, and exposes
 * window.umami. Plain ES5 without dependencies. The served copy is minified at build time
 * and must stay within 1.2 KB gzipped, hence the globals passed in as (minifiable) arguments.
 */
(function (win, doc, loc, nav, history) {
	// Configuration comes from the first script element with a website id; without one the
	// tracker does nothing at all.
	var script = doc.querySelector('script[data-website-id]');
	if (!script)
		return;

	var attr = function (name) {
		return script.getAttribute('data-' + name);
	};
	var storage = function (kind) {
		try {
			return win[kind + 'Storage'];
		} catch (err) { /* storage blocked */ }
	};
	var session = storage('session') || {};
	var website = attr('website-id');
	var hostUrl = attr('host-url');
	var useCache = attr('cache');
	var domains = attr('domains');
	var CACHE = 'umami.cache';

	// By default the API lives next to the script: https://h/js/umami.js -> https://h/js.
	var root = hostUrl ? hostUrl.replace(/\/$/, '') : script.src.split('/').slice(0, -1).join('/');

	// Captured once, sent with every hit.
	var hostname = loc.hostname;
	var screenSize = screen.width + 'x' + screen.height;
	var language = nav.language;
	var currentUrl = loc.pathname + loc.search;
	var currentRef = doc.referrer;

	// Do-Not-Track as browsers (and old IE's tracking protection) signal it.
	var doNotTrack = function () {
		var ext = win.external, dnt = win.doNotTrack || nav.doNotTrack || nav.msDoNotTrack;
		try {
			dnt = dnt || ext.msTrackingProtectionEnabled();
		} catch (err) { /* not IE */ }
		return dnt == 1 || dnt === 'yes';  // 1, "1" and true
	};

	// Decided once: a disabled tracker never sends anything, automatic or manual.
	var disabled = !website || (storage('local') || {})['umami.disabled'] ||
		(attr('do-not-track') && doNotTrack()) ||
		(domains && domains.split(',').map(function (d) { return d.trim(); }).indexOf(hostname) < 0);

	// One hit: {"type", "payload": {website, hostname, screen, language, cache, ...extra}};
	// object keys keep their insertion order, so the JSON has the spec's key order. The
	// answer is only kept as the cache token (data-cache); failures are ignored.
	var collect = function (type, extra, uuid) {
		if (disabled)
			return;
		var payload = {
			website: uuid || website,
			hostname: hostname,
			screen: screenSize,
			language: language,
			cache: useCache && session[CACHE] || null
		};
		for (var k in extra)
			payload[k] = extra[k];
		var req = new XMLHttpRequest();
		req.open('POST', root + '/api/collect', true);
		req.setRequestHeader('Content-Type', 'application/json');
		req.onload = function () {
			if (useCache && req.status < 300 && req.responseText)
				session[CACHE] = req.responseText;
		};
		req.send(JSON.stringify({type: type, payload: payload}));
	};

	var trackView = function (url, referrer, uuid) {
		collect('pageview', {
			url: url === undefined ? currentUrl : url,
			referrer: referrer === undefined ? currentRef : referrer
		}, uuid);
	};

	var trackEvent = function (value, type, url, uuid) {
		collect('event', {
			event_type: type === undefined ? 'custom' : type,
			event_value: value,
			url: url === undefined ? currentUrl : url
		}, uuid);
	};

	// CSS-class events: umami--<event>--<name> (a name with "--" is cut there). One shared
	// capturing listener per class name, so binding twice is harmless and removeEvents()
	// finds them again.
	var listeners = {};
	var eachEventClass = function (method) {
		[].forEach.call(doc.querySelectorAll('[class*="umami--"]'), function (elem) {
			elem.getAttribute('class').split(' ').forEach(function (name) {
				if (/^umami--[a-z]+--\w[\w-]*$/.test(name)) {
					var parts = name.split('--');
					listeners[name] = listeners[name] || function () {
						trackEvent(parts[2], parts[1]);
					};
					elem[method](parts[1], listeners[name], true);
				}
			});
		});
	};
	var addEvents = function () {
		eachEventClass('addEventListener');
	};
	var removeEvents = function () {
		eachEventClass('removeEventListener');
	};

	// Runs before the real pushState/replaceState: a call with a URL is a new pageview whose
	// referrer is the previous URL. Absolute URLs keep path, query and fragment; relative
	// ones are used as given. Event classes are re-scanned once the page has changed.
	var wrap = function (method) {
		var original = history[method];
		history[method] = function (state, title, url) {
			var next = url && '' + url;
			if (next) {
				currentRef = currentUrl;
				currentUrl = /^http/.test(next) ? '/' + next.split('/').slice(3).join('/') : next;
				if (currentUrl !== currentRef)
					trackView();
				removeEvents();
				setTimeout(addEvents, 300);
			}
			return original.apply(history, arguments);
		};
	};

	if (attr('auto-track') !== 'false' && !disabled) {
		wrap('pushState');
		wrap('replaceState');
		trackView();
		// With async the script may run before the rest of the document is parsed.
		doc.readyState === 'loading' ? doc.addEventListener('DOMContentLoaded', addEvents) : addEvents();
	}

	if (!win.umami) {
		var umami = win.umami = function (value) {
			trackEvent(value);
		};
		umami.trackView = trackView;
		umami.trackEvent = trackEvent;
		umami.addEvents = addEvents;
		umami.removeEvents = removeEvents;
	}
})(window, document, location, navigator, history);
