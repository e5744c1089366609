"""An HTTP client for a loopback stack: one keep-alive connection (TLS unverified: the stack's
certificate is self-signed) from a chosen 127/8 source address, with a cookie jar and the
login form. The deployment tests and the soak benchmark send everything through it."""
import http.client
import json
import re
import urllib.parse
from dataclasses import dataclass

from bench.soak.processes import HOST, insecure_tls

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
_CSRF = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)


class Client:
    """Requests to ``port`` on 127.0.0.1, sent from ``source`` (any 127/8 address on Linux), so
    the stack sees that address as the client. ``host`` is the Host header to send."""

    def __init__(self, port, source="127.0.0.1", host="analytics.example.com", tls=True,
                 user_agent=FIREFOX, timeout=60):
        self.port, self.source, self.host, self.tls = port, source, host, tls
        self.user_agent, self.timeout = user_agent, timeout
        self.cookies = {}
        self.conn = None

    def _connect(self):
        if self.tls:
            return http.client.HTTPSConnection(HOST, self.port, timeout=self.timeout,
                                               source_address=(self.source, 0),
                                               context=insecure_tls())
        return http.client.HTTPConnection(HOST, self.port, timeout=self.timeout,
                                          source_address=(self.source, 0))

    def request(self, method, path, body=None, headers=None, json_body=None):
        """Send one request; returns an Answer. Connection errors propagate (the connection
        is then dropped, and the next request opens a new one)."""
        headers = {"Host": self.host, "User-Agent": self.user_agent, **(headers or {})}
        if json_body is not None:
            body = json.dumps(json_body)
            headers.setdefault("Content-Type", "application/json")
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.conn is None:
            self.conn = self._connect()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return Answer(response.status, response.headers, data)

    def login(self, username, password):
        """Log in through the login form (with its CSRF token); raises when it fails."""
        page = self.request("GET", "/login")
        match = _CSRF.search(page.body)
        if match is None:
            raise RuntimeError(f"no CSRF token on /login ({page.status})")
        token = (match.group(1) or match.group(2)).decode()
        form = urllib.parse.urlencode({"csrf_token": token, "username": username,
                                       "password": password})
        # Flask-WTF checks the Referer of HTTPS form posts against the host.
        scheme = "https" if self.tls else "http"
        answer = self.request("POST", "/login", form,
                              {"Content-Type": "application/x-www-form-urlencoded",
                               "Referer": f"{scheme}://{self.host}/login"})
        if answer.status != 302:
            raise RuntimeError(f"login as {username} failed: {answer.status}")
        return answer

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
