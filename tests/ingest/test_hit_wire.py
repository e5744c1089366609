"""HitIn.to_wire: the shared encoder gives exactly what json.dumps(…, separators=(",", ":"),
ensure_ascii=False) gave, for plain, non-ASCII, control-character, NUL and lone-surrogate text;
from_wire reads it back."""
import json
from dataclasses import astuple

import pytest

from app.ingest.hit_in import EVENT, HitIn


def _dumps(hit):
    return json.dumps(list(astuple(hit)), separators=(",", ":"), ensure_ascii=False)


HITS = [
    HitIn(site_id=1, path="/"),
    HitIn(site_id=7, path="/a?b=c&d=\"e\"\\", title="Grüße — 日本語 😀", referrer="https://ex.am/ple",
          created_at=1764460800.123456, width=1920, bot=3, no_session=True, language="de-CH"),
    HitIn(site_id=2, path="click", kind=EVENT, family="umami", title="tab\tnew\nline\x00nul\x7f",
          user_agent="Mozilla/5.0 \u2028\u2029", ip="2001:db8::1", location="CH-ZH"),
    HitIn(site_id=3, path="/lone-\ud800-\udfff-surrogates", title="\udcff", url="\ufeff\uffff"),
    HitIn(site_id=4, path="/", created_at=0.1 + 0.2, width=-1, session="s" * 300),
]


@pytest.mark.parametrize("hit", HITS, ids=range(len(HITS)))
def test_wire_form_is_json_dumps_output(hit):
    assert hit.to_wire() == _dumps(hit)
    assert hit.to_wire() == hit.to_wire()  # the shared encoder keeps no state between calls


def test_wire_form_reads_back():
    assert HitIn.from_wire(HITS[1].to_wire()) == HITS[1]
    assert HitIn.from_wire(HITS[3].to_wire()).path == "/lone-\ufffd-\ufffd-surrogates"
