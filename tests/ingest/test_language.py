"""Languages: BCP 47 tags and Accept-Language headers → ISO 639-3 (spec/goatcounter.md §11.8)."""
import random

import pytest

from app.ingest.language import from_accept_language, iso639_3, name


@pytest.mark.parametrize("tag, expected", [
    # §11.8 / §16.4
    ("fr", "fra"),
    ("en-US", "eng"),
    ("nl", "nld"),
    ("de", "deu"),
    ("", ""),
    ("klingon", ""),
    ("xx", ""),
    # more shapes
    ("EN-us", "eng"),
    ("en_GB", "eng"),
    (" pt-BR ", "por"),
    ("zh-Hant-TW", "zho"),
    ("sr-Latn-RS", "srp"),
    ("fra", "fra"),
    ("yue", "yue"),
    ("iw", "heb"),  # deprecated code for Hebrew
    ("und", ""),  # undetermined
    ("*", ""),
    ("x-private", ""),
    ("e", ""),
    ("en-", ""),
    ("en--US", ""),
    ("en-US-toolongsubtag", ""),
    ("123", ""),
    ("fr;q=0.5", ""),
    ("zz", ""),
    ("qaa", ""),
])
def test_iso639_3(tag, expected):
    assert iso639_3(tag) == expected


@pytest.mark.parametrize("header, expected", [
    ("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "fra"),
    ("en-US,en;q=0.9", "eng"),
    ("de;q=0.5, nl;q=0.9, en;q=0.8", "nld"),
    ("en;q=0.8, nl;q=0.8", "eng"),  # ties keep header order
    ("nl;q=0.8, en;q=0.8", "nld"),
    ("de;q=0.1, fr", "fra"),  # no q means 1
    ("de;Q=1.0, fr", "deu"),
    ("de ; q = 0.7 , fr ; q=0.2", "deu"),
    ("en;q=0, fr;q=0.001", "fra"),  # q=0 means "not acceptable"
    ("en;q=0", ""),
    ("en;q=abc, fr;q=0.1", "fra"),  # a malformed weight drops its entry
    ("en;level=1;q=0.4, fr;q=0.3", "eng"),
    ("*", ""),
    ("*, en;q=0.5", ""),  # the first tag decides
    ("klingon, en;q=0.5", ""),
    ("xx", ""),
    ("", ""),
    (" , ,", ""),
    (";q=1, de", "deu"),
])
def test_from_accept_language(header, expected):
    assert from_accept_language(header) == expected


@pytest.mark.parametrize("code, expected", [
    ("eng", "English"),
    ("fra", "French"),
    ("nld", "Dutch"),
    ("deu", "German"),
    ("ENG", "English"),
    ("", "(unknown)"),
    (None, "(unknown)"),
    ("qqq", "qqq"),
])
def test_name(code, expected):
    assert name(code) == expected


def _random_texts(seed, alphabet, count=2000):
    rng = random.Random(seed)
    for _ in range(count):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 30)))
        if rng.random() < 0.2:
            text += "".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(0, 8)))
        yield text


_HEADER_ALPHABET = "abcdefghijklmnopqrstuvwxyzENUS-_,;=q.0123456789 *\t"


def test_fuzz_from_accept_language_never_raises():
    for header in _random_texts(11, _HEADER_ALPHABET):
        assert isinstance(from_accept_language(header), str)


def test_fuzz_iso639_3_never_raises():
    for tag in _random_texts(12, "abcdefghijklmnopqrstuvwxyzABCXYZ-_0123456789 "):
        result = iso639_3(tag)
        assert result == "" or len(result) == 3


def test_fuzz_name_never_raises():
    for code in _random_texts(13, "abcdefghijklmnopqrstuvwxyz"):
        assert isinstance(name(code), str)


@pytest.mark.parametrize("family, sent, stored", [
    ("gc", "nl-NL,nl;q=0.9,en-US;q=0.8", "nld"),   # /count: the Accept-Language header
    ("basic", "en-GB;q=0.5, fr;q=0.9", "fra"),      # /collect: the header, by q-value
    ("gc-api", "en-US", "eng"),                     # count API: one tag (spec §16.4)
    ("gc-api", "klingon", ""),
    ("umami", "de", "deu"),
])
def test_persisted_language_reads_headers_and_tags(db, site, store_hits, family, sent, stored):
    from app.models import Collect, Hit
    site.settings = {**site.settings, "collect": site.settings["collect"] | int(Collect.LANGUAGE)}
    db.session.commit()
    store_hits({"site_id": site.id, "path": "/a", "family": family, "language": sent,
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 "
                              "Firefox/120.0", "ip": "192.0.2.1"})
    assert db.session.scalar(db.select(Hit.language)) == stored
