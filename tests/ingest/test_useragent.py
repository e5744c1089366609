"""User-Agent parsing: GoatCounter §11.4 rules, Umami Appendices A/B and §6.5 devices, display."""
import random

import pytest

from app.ingest.useragent import (
    UserAgentInfo,
    display,
    goatcounter,
    umami_browser,
    umami_device,
    umami_os,
)

WINDOWS_CHROME_106 = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                      "Chrome/106.0.0.0 Safari/537.36")
MAC_SAFARI_14 = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/14.0.2 Safari/605.1.15")
IPHONE_SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 14_0 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/14.0 Mobile/15E148 Safari/604.1")
IPAD_CHROME = ("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
               "CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1")
ANDROID_CHROME = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/120.0.0.0 Mobile Safari/537.36")
ANDROID_WEBVIEW = ("Mozilla/5.0 (Linux; Android 10; K; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
                   "Version/4.0 Chrome/114.0.5735.196 Mobile Safari/537.36")
EDGE_90 = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/90.0.4430.85 Safari/537.36 Edg/90.0.818.46")
EDGE_LEGACY = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/70.0.3538.102 Safari/537.36 Edge/18.18362")
OPERA_77 = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/91.0.4472.77 Safari/537.36 OPR/77.0.4054.90")
SAMSUNG = ("Mozilla/5.0 (Linux; Android 11; SAMSUNG SM-G991B) AppleWebKit/537.36 (KHTML, like Gecko) "
           "SamsungBrowser/14.2 Chrome/87.0.4280.141 Mobile Safari/537.36")
IE_11 = "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko"
IE_10 = "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; Trident/6.0)"
IE_7 = "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)"
HEADLESS = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/120.0.0.0 Safari/537.36")
OPERA_MINI = ("Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) "
              "Presto/2.5.25 Version/10.54")
OPERA_PRESTO = "Opera/9.80 (Windows NT 6.1; WOW64) Presto/2.12.388 Version/12.18"
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:79.0) Gecko/20100101 Firefox/79.0"
IOS_APP_WEBVIEW = ("Mozilla/5.0 (iPhone; CPU iPhone OS 14_4 like Mac OS X) AppleWebKit/605.1.15 "
                   "(KHTML, like Gecko) Mobile/15E148")


def gc(user_agent):
    info = goatcounter(user_agent)
    return info.browser_name, info.browser_version, info.system_name, info.system_version


# ---------------------------------------------------------------------------------------------
# GoatCounter

@pytest.mark.parametrize("user_agent, expected", [
    # §11.4 examples
    ("Mozilla/5.0 (Linux) Firefox/1", ("Firefox", "1", "Linux", "")),
    (FIREFOX_LINUX, ("Firefox", "79", "Linux", "")),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:79.0) Gecko/20100101 Firefox/79.0",
     ("Firefox", "79", "Linux", "Ubuntu")),
    (WINDOWS_CHROME_106, ("Chrome", "106", "Windows", "10")),
    (MAC_SAFARI_14, ("Safari", "14.0", "macOS", "10.15")),
    ("Chrome/77.0.123.666", ("Chrome", "77", "", "")),
    # §16.4
    ("curl/7.8", ("curl", "7.8", "", "")),
])
def test_goatcounter_spec_examples(user_agent, expected):
    assert gc(user_agent) == expected


def test_goatcounter_browser_stats_fixture_uas():
    """§16.3: Firefox <i> on Linux for i in 0…49, and the Windows Chrome 106 UA."""
    for i in range(50):
        ua = f"Mozilla/5.0 (X11; Linux x86_64; rv:{i}.0) Gecko/20100101 Firefox/{i}.0"
        assert gc(ua) == ("Firefox", str(i), "Linux", "")
        assert goatcounter(ua).browser == f"Firefox {i}"
    assert goatcounter(WINDOWS_CHROME_106).browser == "Chrome 106"


@pytest.mark.parametrize("system, expected", [
    ("Linux; Android 8.1.0; Pixel", ("Android", "8.1")),
    ("Linux; Android 6.0.1; Nexus 5", ("Android", "6")),
    ("Linux; Android 10; K", ("Android", "10")),
    ("Linux; Android", ("Android", "")),
    ("Macintosh; Intel Mac OS X 10_15_7", ("macOS", "10.15")),
    ("Macintosh; Intel Mac OS X 10.14; rv:85.0", ("macOS", "10.14")),
    ("Macintosh; Intel Mac OS X", ("macOS", "")),
    ("iPhone; CPU iPhone OS 14_0 like Mac OS X", ("iOS", "14.0")),
    ("iPad; CPU OS 12_1_4 like Mac OS X", ("iOS", "12.1")),
    ("Windows Phone 8.1; ARM; Trident/7.0", ("Windows Phone", "8.1")),
    ("Windows Phone 10.0; Android 6.0.1; Lumia 950", ("Windows Phone", "10")),
    ("Windows CE", ("Windows", "CE")),
    ("Windows NT 5.0", ("Windows", "2000")),
    ("Windows NT 5.1", ("Windows", "XP")),
    ("Windows NT 5.2", ("Windows", "XP")),
    ("Windows NT 6.0", ("Windows", "Vista")),
    ("Windows NT 6.1; WOW64", ("Windows", "7")),
    ("Windows NT 6.2", ("Windows", "8")),
    ("Windows NT 6.3", ("Windows", "8.1")),
    ("Windows NT 10.0; Win64; x64", ("Windows", "10")),
    ("Windows 98", ("Windows", "")),
    ("X11; CrOS x86_64 14541.0.0", ("Chrome OS", "")),
    ("X11; OpenBSD amd64", ("OpenBSD", "")),
    ("X11; FreeBSD amd64", ("FreeBSD", "")),
    ("X11; NetBSD amd64", ("NetBSD", "")),
    ("X11; DragonFly x86_64", ("DragonFly BSD", "")),
    ("X11; SunOS i86pc", ("SunOS", "")),
    ("Linux; Tizen 2.3; SAMSUNG SM-Z130H", ("Tizen", "2.3")),
    ("PlayStation 4 8.52", ("PlayStation 4", "")),
    ("J2ME/MIDP; U", ("Java ME", "")),
    ("MAUI Runtime; U", ("MAUI Runtime", "")),
    ("compatible; U; Haiku x86; en", ("", "")),
    ("compatible; U; BeOS Haiku R1; en", ("Haiku", "")),
    ("Fuchsia; x64", ("Fuchsia", "")),
    ("Linux; U; Sailfish 3.0.1; Mobile", ("Sailfish", "3.0")),
    ("X11; Fedora; Linux x86_64", ("Linux", "Fedora")),
    ("X11; Linux x86_64; CentOS", ("Linux", "CentOS")),
    ("X11; Debian; Linux i686", ("Linux", "Debian")),
    ("X11; Linux x86_64", ("Linux", "")),
    ("X11", ("", "")),
])
def test_goatcounter_systems(system, expected):
    info = goatcounter(f"Mozilla/5.0 ({system}) Firefox/100.0")
    assert (info.system_name, info.system_version) == expected


def test_goatcounter_linux_distribution_from_a_product():
    ua = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Ubuntu Chromium/80.0.3987.87 Chrome/80.0.3987.87 Safari/537.36")
    assert gc(ua) == ("Chrome", "80", "Linux", "Ubuntu")


def test_goatcounter_kaios_product_sets_the_system():
    ua = ("Mozilla/5.0 (Mobile; LYF/F300B/LYF-F300B-001-01-15-130718-i; Android; rv:48.0) "
          "Gecko/48.0 Firefox/48.0 KAIOS/2.5")
    assert gc(ua) == ("Firefox", "48", "KaiOS", "2.5")


@pytest.mark.parametrize("user_agent, expected", [
    (IE_11, ("Internet Explorer", "11", "Windows", "10")),
    (IE_10, ("Internet Explorer", "10", "Windows", "8")),
    (IE_7, ("Internet Explorer", "7", "Windows", "Vista")),
    ("Mozilla/4.0 (compatible; MSIE 9.0; Windows NT 6.1)", ("Internet Explorer", "9", "Windows", "7")),
    (EDGE_LEGACY, ("Edge", "18", "Windows", "10")),
    (EDGE_LEGACY.replace("Edge/18.18362", "Edge/79.0"), ("", "", "Windows", "10")),
    (EDGE_90, ("Chrome", "90", "Windows", "10")),
    (OPERA_77, ("Chrome", "91", "Windows", "10")),
    (SAMSUNG, ("Chrome", "87", "Android", "11")),
    (ANDROID_CHROME, ("Chrome", "120", "Android", "10")),
    (HEADLESS, ("Chrome", "120", "Linux", "")),
    ("Mozilla/5.0 (X11; Linux x86_64) Chromium/99.0.1 Safari/537.36", ("Chrome", "99", "Linux", "")),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:0.0) Gecko/20100101 Firefox/0.0", ("Firefox", "0", "Linux", "")),
    (OPERA_PRESTO, ("Opera", "12.18", "Windows", "7")),
    ("Opera/9.80 (Windows NT 6.1)", ("Opera", "9.80", "Windows", "7")),
    (OPERA_MINI, ("Opera Mini", "9.80", "Java ME", "")),
    ("Mozilla/5.0 (compatible; bingbot/2.0) BingPreview/1.0b", ("BingPreview", "1.0", "", "")),
    ("Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
     ("PhantomJS", "2.1", "Linux", "")),
    ("Dillo/3.0.5", ("Dillo", "3.0", "", "")),
    ("Mozilla/5.0 (Windows NT 6.1; WOW64; rv:68.0) Gecko/20100101 Goanna/4.4 Firefox/68.0 PaleMoon/28.8.4",
     ("PaleMoon", "28.8", "Windows", "7")),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:68.0) Gecko/20100101 Goanna/4.8 Firefox/68.0 "
     "Basilisk/20210120",
     ("Basilisk", "20210120", "Windows", "10")),
])
def test_goatcounter_browsers(user_agent, expected):
    assert gc(user_agent) == expected


@pytest.mark.parametrize("user_agent, expected", [
    (IPHONE_SAFARI, ("Safari", "14.0", "iOS", "14.0")),
    (MAC_SAFARI_14, ("Safari", "14.0", "macOS", "10.15")),
    # No Version/ product: the AppleWebKit build decides (605.1.15 → 11.0).
    (IPAD_CHROME, ("Safari", "11.0", "iOS", "17.1")),
    (IOS_APP_WEBVIEW, ("Safari", "11.0", "iOS", "14.4")),
    (IOS_APP_WEBVIEW.replace("605.1.15", "604.3.5"), ("Safari", "11.0", "iOS", "14.4")),
    (IOS_APP_WEBVIEW.replace("605.1.15", "610.4.3"), ("Safari", "14.0", "iOS", "14.4")),
    (IOS_APP_WEBVIEW.replace("605.1.15", "537.36"), ("Safari", "", "iOS", "14.4")),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 14_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "FxiOS/29.0 Mobile/15E148 Safari/605.1.15", ("Safari", "11.0", "iOS", "14.0")),
    # A Version/ product containing "15E" does not count as a version.
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 14_0 like Mac OS X) AppleWebKit/610.1 Version/15E148 Safari/604.1",
     ("", "", "iOS", "14.0")),
    # Safari/ on macOS without Version/, FxiOS/, CriOS/ or Mobile/: keep scanning → fallback.
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15",
     ("", "", "macOS", "10.15")),
    # Safari/ outside macOS and iOS is not Safari.
    ("Mozilla/5.0 (Windows NT 6.1) AppleWebKit/534.57.2 (KHTML, like Gecko) Version/5.1.7 Safari/534.57.2",
     ("", "", "Windows", "7")),
])
def test_goatcounter_safari(user_agent, expected):
    assert gc(user_agent) == expected


@pytest.mark.parametrize("user_agent, expected", [
    ("", ("", "", "", "")),
    ("Mozilla/5.0", ("", "", "", "")),
    ("Wget/1.20.3 (linux-gnu)", ("Wget", "1.20", "", "")),
    ("python-requests/2.31.0", ("python-requests", "2.31", "", "")),
    ("Gecko/20100101", ("", "", "", "")),
    ("AppleWebKit/537.36 (Windows NT 10.0)", ("", "", "Windows", "10")),
    ("QtWebEngine/5.15 foo/1", ("", "", "", "")),
    ("Version/1.0 Foo/2", ("", "", "", "")),
    ("Safari/1.0", ("", "", "", "")),
    ("Mobile/1.0", ("", "", "", "")),
    ("like/1", ("", "", "", "")),
    ("4/5 thing", ("", "", "", "")),
    ("nothing-to-see", ("", "", "", "")),
    ("foo/bar", ("", "", "", "")),
    ("'Mozilla/5.0 (Linux) Firefox/1'", ("Firefox", "1", "Linux", "")),
    (") (Windows NT 10.0) Firefox/3", ("Firefox", "3", "", "")),
])
def test_goatcounter_fallback_and_odd_input(user_agent, expected):
    assert gc(user_agent) == expected


def test_user_agent_info_display_properties():
    info = UserAgentInfo("Firefox", "79", "Linux", "Ubuntu")
    assert (info.browser, info.system) == ("Firefox 79", "Linux Ubuntu")
    assert UserAgentInfo().browser == "" and UserAgentInfo().system == ""


@pytest.mark.parametrize("name, version, expected", [
    ("Chrome", "120", "Chrome 120"),
    ("Windows", "10", "Windows 10"),
    ("Firefox", "", "Firefox"),
    (" Safari ", " 14.0 ", "Safari 14.0"),
    ("", "", ""),
    ("", "10", "10"),
    (None, None, ""),
])
def test_display(name, version, expected):
    assert display(name, version) == expected


# ---------------------------------------------------------------------------------------------
# Umami

@pytest.mark.parametrize("user_agent, expected", [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/70.0.3538.102 Safari/537.36 AOLShield/70.0.3538.0", "aol"),
    (EDGE_LEGACY, "edge"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 14_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/14.0 EdgiOS/45.8.9 Mobile/15E148 Safari/605.1.15", "edge-ios"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/90.0.4430.212 YaBrowser/21.5.3.742 Yowser/2.5 Safari/537.36", "yandexbrowser"),
    (IOS_APP_WEBVIEW + " KAKAOTALK 9.2.5", "kakaotalk"),
    (SAMSUNG, "samsung"),
    ("Mozilla/5.0 (Linux; Android 9; KFMAWI) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Silk/93.2.7 like Chrome/93.0.4577.82 Safari/537.36", "silk"),
    ("Mozilla/5.0 (Linux; U; Android 10; M2004J19G) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Version/4.0 Chrome/89.0.4389.116 Mobile Safari/537.36 XiaoMi/MiuiBrowser/12.13.2", "miui"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit/537.36 (KHTML, like Gecko) "
     "BeakerBrowser/1.1.0 Chrome/87.0.4280.141 Electron/11.2.3 Safari/537.36", "beaker"),
    (EDGE_90, "edge-chromium"),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/96.0.4664.104 Mobile Safari/537.36 EdgA/96.0.1054.53", "edge-chromium"),
    (ANDROID_WEBVIEW, "chromium-webview"),
    (WINDOWS_CHROME_106, "chrome"),
    (ANDROID_CHROME, "chrome"),
    (HEADLESS, "chrome"),
    ("Mozilla/5.0 (X11; Linux x86_64) Chromium/99.0.1", "chrome"),
    ("Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
     "phantomjs"),
    (IPAD_CHROME, "crios"),
    (FIREFOX_LINUX, "firefox"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 14_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "FxiOS/29.0 Mobile/15E148 Safari/605.1.15", "fxios"),
    (OPERA_MINI, "opera-mini"),
    (OPERA_77, "opera"),
    (OPERA_PRESTO, "opera"),
    (IE_11, "ie"),
    (IE_10, "ie"),
    (IE_7, "ie"),
    ("Mozilla/5.0 (BB10; Touch) AppleWebKit/537.10+ (KHTML, like Gecko) Version/10.0.9.2372 "
     "Mobile Safari/537.10+", "bb10"),
    ("Mozilla/5.0 (Linux; U; Android 4.0.3; ko-kr; LG-L160L Build/IML74K) AppleWebkit/534.30 "
     "(KHTML, like Gecko) Version/4.0 Mobile Safari/534.30", "android"),
    (IPHONE_SAFARI, "ios"),
    (MAC_SAFARI_14, "safari"),
    (IOS_APP_WEBVIEW + " [FBAN/FBIOS;FBAV/305.0.0.35.113;FBBV/270000000]", "facebook"),
    (IOS_APP_WEBVIEW + " Instagram 178.0.0.23.117 (iPhone12,1; iOS 14_4; en_US)", "instagram"),
    (IOS_APP_WEBVIEW, "ios-webview"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
     "ios-webview"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "searchbot"),
    ("facebookexternalhit/1.1", "searchbot"),
    ("Mozilla/5.0 (compatible; a crawler)", "searchbot"),
])
def test_umami_browser_identifiers(user_agent, expected):
    assert umami_browser(user_agent) == expected


@pytest.mark.parametrize("user_agent, expected", [
    ("", None),
    (None, None),
    ("Mozilla/5.0", None),
    ("curl/7.88.1", None),
    # MiuiBrowser only counts at the very end.
    ("Mozilla/5.0 (Linux; Android 10) XiaoMi/MiuiBrowser/12.13.2 Chrome/89.0.4389.116 Safari/537.36",
     "chrome"),
    # Chrome/<v> must be followed by whitespace or the end.
    ("Mozilla/5.0 (X11; Linux x86_64) Chrome/89.0abc", None),
    # Case-sensitive: "Googlebot" has "bot", "GOOGLEBOT" has none of the lowercase words.
    ("GOOGLEBOT", None),
])
def test_umami_browser_edges(user_agent, expected):
    assert umami_browser(user_agent) == expected


def test_umami_browser_checked_examples():
    """The examples checked below spec/umami.md's Appendix A table."""
    assert umami_browser(WINDOWS_CHROME_106) == "chrome"
    assert umami_browser(EDGE_90) == "edge-chromium"
    assert umami_browser(MAC_SAFARI_14) == "safari"
    assert umami_browser(IPHONE_SAFARI) == "ios"
    assert umami_browser(IPAD_CHROME) == "crios"
    assert umami_browser(ANDROID_CHROME) == "chrome"
    assert umami_browser(ANDROID_WEBVIEW) == "chromium-webview"
    assert umami_browser(SAMSUNG) == "samsung"
    assert umami_browser(OPERA_77) == "opera"
    assert umami_browser(IE_11) == "ie"
    assert umami_browser("Mozilla/5.0") is None


@pytest.mark.parametrize("needle, expected", [
    ("iPhone", "iOS"), ("iPod", "iOS"), ("iPad", "iOS"),
    ("Android", "Android OS"),
    ("BlackBerry", "BlackBerry OS"), ("BB10", "BlackBerry OS"),
    ("IEMobile", "Windows Mobile"),
    ("Kindle", "Amazon OS"),
    ("Win16", "Windows 3.11"),
    ("Windows 95", "Windows 95"), ("Win95", "Windows 95"), ("Windows_95", "Windows 95"),
    ("Windows 98", "Windows 98"), ("Win98", "Windows 98"),
    ("Windows NT 5.0", "Windows 2000"), ("Windows 2000", "Windows 2000"),
    ("Windows NT 5.1", "Windows XP"), ("Windows XP", "Windows XP"),
    ("Windows NT 5.2", "Windows Server 2003"),
    ("Windows NT 6.0", "Windows Vista"),
    ("Windows NT 6.1", "Windows 7"),
    ("Windows NT 6.2", "Windows 8"),
    ("Windows NT 6.3", "Windows 8.1"),
    ("Windows NT 10.0", "Windows 10"),
    ("Windows ME", "Windows ME"),
    ("OpenBSD", "Open BSD"),
    ("SunOS", "Sun OS"),
    ("CrOS", "Chrome OS"),
    ("Linux", "Linux"), ("X11", "Linux"),
    ("Mac_PowerPC", "Mac OS"), ("Macintosh", "Mac OS"),
    ("QNX", "QNX"),
    ("BeOS", "BeOS"),
    ("OS/2", "OS/2"),
    ("Haiku", None),
    ("windows nt 10.0", None),
])
def test_umami_os_rows(needle, expected):
    assert umami_os(f"Mozilla/5.0 ({needle}) Test/1.0") == expected


@pytest.mark.parametrize("user_agent, expected", [
    ("", None),
    (None, None),
    (ANDROID_CHROME, "Android OS"),  # Android before Linux
    (IPHONE_SAFARI, "iOS"),  # iPhone before "Mac OS X"
    (WINDOWS_CHROME_106, "Windows 10"),
    (MAC_SAFARI_14, "Mac OS"),
    ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) Chrome/120.0.0.0", "Chrome OS"),  # CrOS before X11
    ("Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950)", "Android OS"),
])
def test_umami_os_order(user_agent, expected):
    assert umami_os(user_agent) == expected


@pytest.mark.parametrize("screen, os_name, expected", [
    # §6.5 examples
    ("1920x1080", "Windows 10", "desktop"),
    ("1366x768", "Windows 10", "laptop"),
    ("800x600", "Linux", "laptop"),
    ("390x844", "iOS", "mobile"),
    ("768x1024", "iOS", "tablet"),
    ("412x915", "Android OS", "mobile"),
    ("1024x768", None, "laptop"),
    # the rules around them
    (None, "Windows 10", None),
    ("", "iOS", None),
    ("2560x1440", "Chrome OS", "laptop"),
    ("2560x1440", "Mac OS", "desktop"),
    ("1920x1080", "Windows Mobile", "tablet"),
    ("320x480", "Windows Mobile", "mobile"),
    ("320x480", "Amazon OS", "tablet"),
    ("480x800", "Android OS", "tablet"),
    ("479x800", "Android OS", "mobile"),
    ("1920x1080", None, "desktop"),
    ("1023x768", "Unknown OS", "tablet"),
    ("479x640", None, "tablet"),
    ("478x640", None, "mobile"),
    # non-numeric widths: every comparison is false
    ("widex100", None, "mobile"),
    ("widex100", "Windows 10", "desktop"),
    ("widex100", "iOS", "mobile"),
    ("abc", "Linux", "desktop"),
    # JavaScript's Number(): whitespace trimmed, "" is 0, exponents and Infinity count
    (" 1920 x1080", None, "desktop"),
    ("x100", None, "mobile"),
    ("x100", "Linux", "laptop"),
    ("2e3x1", None, "desktop"),
    ("Infinityx1", None, "desktop"),
    ("0b11111111111x1", None, "desktop"),
    ("1_920x1080", None, "mobile"),
])
def test_umami_device(screen, os_name, expected):
    assert umami_device(screen, os_name) == expected


# ---------------------------------------------------------------------------------------------
# Caching and robustness

def test_parse_results_are_cached():
    distinct = [WINDOWS_CHROME_106, MAC_SAFARI_14, IPHONE_SAFARI, ANDROID_CHROME, FIREFOX_LINUX]
    user_agents = [distinct[i % len(distinct)] for i in range(20_000)]
    for parse in (goatcounter, umami_browser, umami_os):
        parse.cache_clear()
        results = [parse(ua) for ua in user_agents]
        info = parse.cache_info()
        assert info.misses == len(distinct)
        assert info.hits == len(user_agents) - len(distinct)
        assert results[:5] == [parse(ua) for ua in distinct]


_FRAGMENTS = ["Mozilla/5.0 ", "(", ")", "; ", "/", ".", " ", "'", "_", "x", "0", "1", "9", "15E",
              "Chrome/", "Chromium/", "Edge/", "Edg/", "Firefox/", "Opera/", "Opera Mini/", "OPR/",
              "Version/", "Safari/", "Mobile/", "Mobile/15E148", "AppleWebKit/", "FxiOS/", "CriOS/",
              "MSIE ", "Trident/", "Linux", "Android", "Intel Mac OS X", "CPU OS", "CPU iPhone OS",
              "OS", "Windows Phone", "Windows NT ", "Windows", "CrOS", "Tizen ", "Sailfish ", " Haiku ",
              "KAIOS/", "Ubuntu", "BingPreview/", "wv)", "Gecko", "rv:", "é", "\x00", "\u2028", "\n"]


def random_user_agents(seed, count=2000):
    rng = random.Random(seed)
    for _ in range(count):
        parts = rng.choices(_FRAGMENTS, k=rng.randint(0, 14))
        if rng.random() < 0.2:
            parts.append("".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(0, 12))))
        yield "".join(parts)


def test_fuzz_goatcounter_never_raises():
    for ua in random_user_agents(1):
        info = goatcounter(ua)
        assert all(isinstance(value, str) for value in
                   (info.browser_name, info.browser_version, info.system_name, info.system_version))


def test_fuzz_umami_browser_and_os_never_raise():
    for ua in random_user_agents(2):
        assert umami_browser(ua) is None or isinstance(umami_browser(ua), str)
        assert umami_os(ua) is None or isinstance(umami_os(ua), str)


def test_fuzz_umami_device_never_raises():
    rng = random.Random(3)
    alphabet = "0123456789xX .-+eE_bBoInfinity\t\u00a0é"
    systems = [None, "", "Windows 10", "iOS", "Amazon OS", "Chrome OS", "Linux", "Nope"]
    for _ in range(2000):
        screen = "".join(rng.choices(alphabet, k=rng.randint(0, 12)))
        assert umami_device(screen, rng.choice(systems)) in (None, "desktop", "laptop", "tablet", "mobile")


def test_fuzz_display_never_raises():
    rng = random.Random(4)
    for _ in range(2000):
        name = "".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(0, 8)))
        version = "".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(0, 8)))
        assert isinstance(display(name, version), str)
