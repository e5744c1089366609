"""Referrer spam check, cleaning, raw storage and campaigns (spec/goatcounter.md §11.2, §11.3);
pure, no app or database."""
import pytest

from app.ingest import referrers
from app.ingest.paths import WHITESPACE, normalise_path
from app.ingest.referrers import campaign, clean_referrer, is_spam, load_spam_domains, raw_referrer
from tests.ingest.test_paths import fuzz_strings


@pytest.mark.parametrize("sent, stored", [
    # the examples of §11.2
    ("", ("", "o")),
    ("xx:", ("", "o")),
    ("https://arp242.net?utm_source=asd&a=b", ("arp242.net", "h")),
    ("https://mail.google.com?a=b&c=d", ("Email", "g")),
    ("android-app://com.laurencedawson.reddit_sync.pro", ("www.reddit.com", "g")),
    ("android-app://com.example.android", ("com.example.android", "o")),
    ("https://np.reddit.com/r/programming/.compact", ("www.reddit.com/r/programming", "h")),
    ("/?fbclid=IwAR3xyz", ("", "o")),
    ("example", ("example", "o")),
    ("https://example.com", ("example.com", "h")),
    ("https://example.com?p=x", ("example.com", "h")),
    ("https://en.m.wikipedia.org/wiki/Foo?a=b", ("en.wikipedia.org/wiki/Foo", "h")),
    ("https://t.co/asd", ("twitter.com/search?q=https%3A%2F%2Ft.co%2Fasd", "h")),
])
def test_spec_examples(sent, stored):
    assert clean_referrer(sent) == stored


@pytest.mark.parametrize("sent, stored", [
    ("https://link.oreilly.com/a/b?x=1", ("link.oreilly.com", "h")),
    ("https://m.habr.com/ru/post/1/", ("habr.com/ru/post/1", "h")),
    ("https://m.facebook.com/", ("www.facebook.com", "h")),
    ("https://old.reddit.com/r/vim/search", ("www.reddit.com/r/vim", "h")),
    ("https://i.reddit.com/r/vim/new", ("www.reddit.com/r/vim", "h")),
    ("https://fr.reddit.com/r/vim/top", ("www.reddit.com/r/vim", "h")),
    ("https://www.reddit.com/r/programming.compact", ("www.reddit.com/r/programming", "h")),
    ("https://www.reddit.com/r/x/comments/abc/title/", ("www.reddit.com/r/x/comments/abc/title", "h")),
    ("https://www.google.com/", ("Google", "g")),
    ("https://www.google.co.nz/url?q=x", ("Google", "g")),
    ("https://google.nl", ("Google", "g")),
    ("https://notgoogle.com/x", ("notgoogle.com/x", "h")),
    ("https://yandex.ru/search/?text=x", ("Yandex", "g")),
    ("https://m.yandex.com.tr/", ("Yandex", "g")),
    ("https://search.yahoo.com/search?p=x", ("Yahoo", "g")),
    ("https://uk.search.yahoo.com/", ("Yahoo", "g")),
    ("https://l.facebook.com/l.php?u=x", ("www.facebook.com", "g")),
    ("android-app://com.Slack", ("Slack Chat", "g")),
    ("https://lobste.rs/s/tslw6k/why_jquery", ("lobste.rs/s/tslw6k/why_jquery", "h")),
    ("https://lobste.rs/newest/page/8", ("lobste.rs", "h")),
    ("https://lobste.rs", ("lobste.rs", "h")),
    ("https://gambe.ro/t/x", ("lobste.rs", "h")),
    ("https://gambe.ro/s/abc", ("gambe.ro/s/abc", "h")),
    ("https://app.getpocket.com/read/2369667792", ("getpocket.com", "h")),
    ("https://getpocket.com/", ("getpocket.com", "h")),
    ("https://t.co/", ("t.co", "h")),
    ("https://t.co", ("t.co", "h")),
    ("https://t.co/a%20b", ("twitter.com/search?q=https%3A%2F%2Ft.co%2Fa+b", "h")),
    ("https://example.com/a/#frag", ("example.com/a", "h")),
    ("http://user:pw@example.com:8080/x", ("example.com:8080/x", "h")),
    ("HTTPS://Example.com/X", ("Example.com/X", "h")),
    ("ftp://example.com/f", ("example.com/f", "o")),
    ("  https://example.com/x/  ", ("example.com/x", "h")),
    ("https://bücher.de/straße", ("bücher.de/straße", "h")),
    ("example.com/foo?x=1", ("example.com/foo", "o")),
    ("//example.com/x", ("example.com/x", "o")),
    ("http:example.com", ("example.com", "h")),
    ("http://", ("", "o")),
    ("://", (":", "o")),
    ("%zz", ("%zz", "o")),
    ("///", ("", "o")),
    ("https://exa\x00mple.com/", ("https://exa\x00mple.com", "o")),
    ("http://[::1", ("http://[::1", "o")),
])
def test_cleaning(sent, stored):
    assert clean_referrer(sent) == stored


@pytest.mark.parametrize("host, name", [
    ("news.ycombinator.com", "Hacker News"), ("hn.algolia.com", "Hacker News"),
    ("hckrnews.com", "Hacker News"), ("hn.premii.com", "Hacker News"),
    ("com.stefandekanski.hackernews.free", "Hacker News"),
    ("io.github.hidroh.materialistic", "Hacker News"), ("hackerweb.app", "Hacker News"),
    ("quiethn.com", "Hacker News"), ("hnews.xyz", "Hacker News"),
    ("hackernewsmobile.com", "Hacker News"),
    ("mail.google.com", "Email"), ("com.google.android.gm", "Email"), ("mail.yahoo.com", "Email"),
    ("org.fox.ttrss", "RSS"), ("www.inoreader.com", "RSS"), ("com.innologica.inoreader", "RSS"),
    ("usepanda.com", "RSS"), ("feedly.com", "RSS"),
    ("com.google.android.googlequicksearchbox", "Google"),
    ("com.andrewshu.android.reddit", "www.reddit.com"),
    ("com.laurencedawson.reddit_sync", "www.reddit.com"),
    ("com.laurencedawson.reddit_sync.dev", "www.reddit.com"),
    ("com.laurencedawson.reddit_sync.pro", "www.reddit.com"),
    ("l.facebook.com", "www.facebook.com"), ("lm.facebook.com", "www.facebook.com"),
    ("org.telegram.messenger", "Telegram Messenger"), ("com.slack", "Slack Chat"),
    ("baidu.com", "Baidu"), ("c.tieba.baidu.com", "Baidu"), ("m.baidu.com", "Baidu"),
    ("tieba.baidu.com", "Baidu"), ("www.baidu.com", "Baidu"),
])
def test_grouping_table(host, name):
    assert clean_referrer(f"https://{host}/some/path?q=1") == (name, "g")
    assert clean_referrer(f"android-app://{host.upper()}") == (name, "g")


@pytest.mark.parametrize("sent, stored", [
    ("https://example.com/x/", ("https://example.com/x", "o")),
    ("", ("", "o")),
    ("  y  ", ("y", "o")),
    ("https://www.google.com/?q=1", ("https://www.google.com/?q=1", "o")),
    ("x / /", ("x", "o")),
    ("///", ("", "o")),
    ("\u3000 ", ("", "o")),
])
def test_raw_referrer_is_stored_as_sent(sent, stored):
    assert raw_referrer(sent) == stored


@pytest.mark.parametrize("referrer", [
    "https://semalt.com/",
    "http://sub.semalt.com/x?y=1",
    "https://a.b.darodar.com",
    "https://SEMALT.COM",
    "https://semalt.com.:443/",
    "http://user@ilovevitaly.com/",
    "//buttons-for-website.com/x",
    "http://localhost:8000/",
    "http://LOCALHOST",
    "android-app://com.semalt.com",
])
def test_spam_referrers(referrer):
    assert is_spam(referrer)


@pytest.mark.parametrize("referrer", [
    "", "semalt.com", "semalt.com/x", "https://notsemalt.com", "https://semalt.com.example.org",
    "https://example.com/?r=semalt.com", "https://localhost.example.com", "http://[::1",
    "https://exa\x00mple.com", "https://bücher.de/", "xx:",
])
def test_not_spam(referrer):
    assert not is_spam(referrer)


@pytest.fixture
def spam_list(monkeypatch):
    """Point the default list at a path of the test's choosing, with a fresh cache."""
    def use(path):
        monkeypatch.setattr(referrers, "SPAM_LIST", path)
        load_spam_domains.cache_clear()
    yield use
    load_spam_domains.cache_clear()


def test_spam_list_file_is_read_once(tmp_path, spam_list):
    listed = tmp_path / "referrer-spam.txt"
    listed.write_text("# comment\n Example.COM \n\nspam.test.\n", encoding="utf-8")
    spam_list(listed)
    assert load_spam_domains() == {"example.com", "spam.test", "localhost"}
    assert is_spam("https://www.example.com/") and is_spam("http://spam.test")
    assert not is_spam("https://semalt.com/")
    listed.write_text("other.test\n", encoding="utf-8")
    assert load_spam_domains() == {"example.com", "spam.test", "localhost"}
    assert load_spam_domains(listed) == {"other.test", "localhost"}


def test_built_in_list_without_the_file(tmp_path, spam_list):
    spam_list(tmp_path / "missing.txt")
    domains = load_spam_domains()
    assert {"semalt.com", "darodar.com", "localhost"} <= domains
    assert is_spam("https://semalt.com/")


@pytest.mark.parametrize("query, event, found", [
    ("ref=AAA&q=ref=AAA", False, ("AAA", None)),
    ("?utm_source=news&utm_campaign=spring", False, ("news", "spring")),
    ("utm_source=news&utm_campaign=spring", True, (None, None)),
    ("", False, (None, None)),
    ("?", False, (None, None)),
    ("a=b", False, (None, None)),
    ("source=d&src=c&ref=b&utm_source=a", False, ("a", None)),
    ("source=d&src=c&ref=b", False, ("b", None)),
    ("source=d&src=c", False, ("c", None)),
    ("source=d", False, ("d", None)),
    ("utm_source=&ref=b", False, ("b", None)),
    ("utm_source=%20%20&src=c", False, ("c", None)),
    ("utm_source=+a+", False, ("a", None)),
    ("ref=x&ref=y", False, ("x", None)),
    ("ref=%zz&src=ok", False, ("ok", None)),
    ("utm_campaign=&campaign=x", False, (None, "x")),
    ("campaign=Spring%20Sale", False, (None, "Spring Sale")),
    ("utm_source=a#utm_campaign=b", False, ("a", None)),
    ("??ref=a", False, (None, None)),
    ("ref=中文", False, ("中文", None)),
])
def test_campaign(query, event, found):
    assert campaign(query, event) == found


def test_spec_campaign_example():
    # p=/foo.html?ref=AAA&q=ref=AAA → path /foo.html, referrer AAA (scheme c, set by the caller)
    assert normalise_path("/foo.html?ref=AAA", False) == "/foo.html"
    assert campaign("ref=AAA", False) == ("AAA", None)


def test_fuzz_never_raises():
    for text in fuzz_strings():
        is_spam(text)
        ref, scheme = clean_referrer(text)
        assert scheme in "hgo" and (ref or scheme == "o")
        assert not ref.endswith("/")
        raw, scheme = raw_referrer(text)
        assert scheme == "o" and not raw.endswith("/")
        for event in (False, True):
            source, name = campaign(text, event)
            assert source is None or source.strip(WHITESPACE) == source != ""
            assert name is None or name.strip(WHITESPACE) == name != ""
