/*
 * Ibex track.js: the Basic family's tracker (spec/basic.md, "GET /track.js").
 *
 *   <script src="https://stats.example.org/track.js" defer></script>
 *
 * Posts {path, referrer, screen} as JSON to /collect next to this script, on load and on
 * every history navigation (pushState, replaceState, popstate) that changes the path.
 * Plain ES5 without dependencies; the served copy is minified at build time.
 */
(function () {
	'use strict';

	// The endpoint sits next to the script: https://h/track.js -> https://h/collect.
	var self = document.currentScript;
	if (!self) {
		var scripts = document.querySelectorAll('script[src]');
		for (var i = 0; i < scripts.length; i++) {
			if (/\/track\.js(\?|#|$)/.test(scripts[i].src))
				self = scripts[i];
		}
	}
	if (!self)
		return;
	var endpoint = self.src.split(/[?#]/)[0].replace(/[^\/]*$/, '') + 'collect';
	var lastPath = null;

	// Send the current page, unless it is the one sent last (replaceState, or a pushState
	// that only changed the fragment, is not a new pageview).
	var send = function () {
		var path = location.pathname + location.search;
		if (path === lastPath)
			return;
		lastPath = path;
		var req = new XMLHttpRequest();
		req.open('POST', endpoint, true);
		req.setRequestHeader('Content-Type', 'application/json');
		req.send(JSON.stringify({
			path: path,
			referrer: document.referrer,
			screen: screen.width + 'x' + screen.height
		}));
	};

	// pushState and replaceState change the location without an event: send afterwards.
	var wrap = function (method) {
		var original = history[method];
		if (!original)
			return;
		history[method] = function () {
			var result = original.apply(history, arguments);
			send();
			return result;
		};
	};
	wrap('pushState');
	wrap('replaceState');
	window.addEventListener('popstate', send, false);
	send();
})();
