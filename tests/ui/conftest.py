"""UI test helpers: small HTML scraping and login helpers (the isolating ``client`` and
``new_client`` fixtures live in tests/conftest.py)."""
import re
from html.parser import HTMLParser

from tests.conftest import PASSWORD


class _Inputs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inputs = []

    def handle_starttag(self, tag, attrs):
        if tag == "input":
            self.inputs.append(dict(attrs))


def inputs(html):
    """Every <input>'s attributes, as dicts, in document order."""
    parser = _Inputs()
    parser.feed(html if isinstance(html, str) else html.decode("utf-8"))
    return parser.inputs


def csrf_tokens(html):
    """The values of the hidden csrf_token inputs in a page."""
    return [i.get("value") for i in inputs(html)
            if i.get("name") == "csrf_token" and i.get("type") == "hidden"]


def text(response):
    return response.get_data(as_text=True)


def log_in(client, username, password=PASSWORD, **kwargs):
    return client.post("/login", data={"username": username, "password": password}, **kwargs)


def is_login_redirect(response):
    return response.status_code == 302 and re.match(r"^/login(\?|$)", response.headers["Location"])
