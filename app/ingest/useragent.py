"""User-Agent → browser, system and device, per family: GoatCounter's (name, version) pairs
(spec/goatcounter.md §11.4), Umami's browser identifiers, OS names and device classes
(spec/umami.md §6.5, Appendices A and B), and the Basic API's "Chrome 120" display form."""
import functools
import re
from dataclasses import dataclass

_CACHE_SIZE = 8192


@dataclass(frozen=True)
class UserAgentInfo:
    """GoatCounter's view of a User-Agent; every field is "" when unknown."""

    browser_name: str = ""
    browser_version: str = ""
    system_name: str = ""
    system_version: str = ""

    @property
    def browser(self):
        return display(self.browser_name, self.browser_version)

    @property
    def system(self):
        return display(self.system_name, self.system_version)


def display(name, version):
    """`name + " " + version`, trimmed: "Chrome 120", "Windows 10", "Firefox"."""
    return f"{(name or '').strip()} {(version or '').strip()}".strip()


# ---------------------------------------------------------------------------------------------
# GoatCounter (upstream library "gadget")

_LEADING_VERSION = re.compile(r"[0-9.]*")
_FALLBACK_SLASH = re.compile(r"[A-Za-z]/[0-9]")
_WINDOWS_VERSIONS = {"CE": "CE", "5.0": "2000", "5.1": "XP", "5.2": "XP", "6.0": "Vista",
                     "6.1": "7", "6.2": "8", "6.3": "8.1", "10.0": "10"}
_LINUX_DISTRIBUTIONS = ("Ubuntu", "CentOS", "Fedora", "Debian")
_BSDS = ("OpenBSD", "FreeBSD", "NetBSD")
_NAMED_PRODUCTS = ("BingPreview/", "PhantomJS/", "Dillo/", "PaleMoon/", "Basilisk/")
_NOT_A_BROWSER = ("Mozilla/", "Gecko/", "AppleWebKit/", "(KHTML,", "like", "Gecko)", "Version/",
                  "Mobile/", "Safari/", "QtWebEngine/")
# Safari versions for WebKit builds when the UA carries no Version/ product; exact builds
# first, then by major build. Only the builds spec §11.4 names.
_SAFARI_BY_WEBKIT_BUILD = {"605.1.15": "11.0"}
_SAFARI_BY_WEBKIT_MAJOR = {"604": "11.0", "610": "14.0"}


def _version(text, components, trim_zero=False):
    """The leading run of digits and dots, cut to `components` parts ("8.1.0" → "8.1")."""
    parts = _LEADING_VERSION.match(text).group().split(".")[:components]
    if trim_zero and len(parts) == 2 and parts[1] == "0":
        parts = parts[:1]
    return ".".join(parts).rstrip(".")


def _after(text, prefix):
    return text[len(prefix):].strip()


def _tokenise(user_agent):
    """(system tokens, products): see §11.4 "Tokenising"."""
    user_agent = user_agent.strip("'")
    start, end = user_agent.find("("), user_agent.find(")")
    if start == -1 or end < start:
        return [], user_agent.split()
    system = [token.strip() for token in user_agent[start + 1:end].split(";")]
    products = (user_agent[:start] + " " + user_agent[end + 1:]).split()
    return system, products


def _system(tokens, products):
    """(name, version, IE flag) from the system tokens and products."""
    name, version, ie = "", "", False
    for token in tokens:
        if token.startswith(("Trident/", "MSIE ")):
            ie = True
        elif token.startswith("Linux"):
            name, version = "Linux", ""
        elif token.startswith("Android"):
            name, version = "Android", _version(_after(token, "Android"), 2, trim_zero=True)
            break
        elif token.startswith("Intel Mac OS X"):
            name, version = "macOS", _version(_after(token, "Intel Mac OS X").replace("_", "."), 2)
            break
        elif token.startswith(("CPU iPhone OS", "CPU OS")):
            words = token.split()
            at = words.index("OS") + 1 if "OS" in words else len(words)
            word = words[at] if at < len(words) else ""
            name, version = "iOS", _version(word.replace("_", "."), 2)
            break
        elif token.startswith("Windows Phone"):
            words = token.split()
            name = "Windows Phone"
            version = _version(words[2], 2, trim_zero=True) if len(words) > 2 else ""
            break
        elif token.startswith("Windows"):
            name, version = "Windows", _WINDOWS_VERSIONS.get(token.split()[-1], "")
        else:
            found = _other_system(token)
            if found:
                name, version = found
                break
    for product in products:
        if product.startswith("KAIOS/"):
            name, version = "KaiOS", _version(_after(product, "KAIOS/"), 2)
    if name == "Linux":
        for token in (*tokens, *products):
            if token in _LINUX_DISTRIBUTIONS:
                version = token
                break
    return name, version, ie


def _other_system(token):
    """The systems that stop the scan without further rules; None when `token` is none of them."""
    if token.startswith("CrOS"):
        return "Chrome OS", ""
    for bsd in _BSDS:
        if token.startswith(bsd):
            return bsd, ""
    if token.startswith("DragonFly"):
        return "DragonFly BSD", ""
    if token.startswith("SunOS"):
        return "SunOS", ""
    if token.startswith("Tizen "):
        return "Tizen", _version(_after(token, "Tizen"), 99)
    if token.startswith("PlayStation 4"):
        return "PlayStation 4", ""
    if token == "J2ME/MIDP":
        return "Java ME", ""
    if token == "MAUI Runtime":
        return "MAUI Runtime", ""
    if " Haiku " in token:
        return "Haiku", ""
    if "Fuchsia" in token:
        return "Fuchsia", ""
    if "Sailfish " in token:
        return "Sailfish", _version(token[token.index("Sailfish ") + len("Sailfish "):], 2)
    return None


def _find(products, prefix):
    """The first product starting with `prefix`, or None."""
    return next((product for product in products if product.startswith(prefix)), None)


def _safari_version(products):
    webkit = _find(products, "AppleWebKit/")
    build = _LEADING_VERSION.match(_after(webkit, "AppleWebKit/")).group() if webkit else ""
    if build in _SAFARI_BY_WEBKIT_BUILD:
        return _SAFARI_BY_WEBKIT_BUILD[build]
    return _SAFARI_BY_WEBKIT_MAJOR.get(build.split(".")[0], "")


def _browser(user_agent, tokens, products, system_name, ie):
    """(name, version) per §11.4 "Browser"."""
    if ie:
        at = user_agent.find("MSIE ")
        if at == -1:
            return "Internet Explorer", "11"
        return "Internet Explorer", user_agent[at + 5:at + 7].strip(". ")
    for product in products:
        if product.startswith(_NAMED_PRODUCTS):
            name, _, version = product.partition("/")
            return name, _version(version, 2)
    for product in products:
        if product.startswith("Chrome/"):
            edge = _find(products, "Edge/")
            if edge is None:
                return "Chrome", _version(_after(product, "Chrome/"), 1)
            version = _version(_after(edge, "Edge/"), 1)
            return ("Edge", version) if version.startswith("1") else ("", "")
        if product.startswith(("Chromium/", "HeadlessChrome/")):
            return "Chrome", _version(product.partition("/")[2], 1)
        if product.startswith("Firefox/"):
            return "Firefox", _version(_after(product, "Firefox/"), 1)
        if product.startswith("Opera/"):
            mini = _find(tokens, "Opera Mini/")
            if mini is not None:
                return "Opera Mini", _version(_after(mini, "Opera Mini/"), 2)
            version = _find(products, "Version/") or product
            return "Opera", _version(version.partition("/")[2], 2)
        if system_name in ("macOS", "iOS") and (product.startswith("Safari/") or product == "Mobile/15E148"):
            version = _find(products, "Version/")
            if version is not None and "15E" not in version:
                return "Safari", _version(_after(version, "Version/"), 2)
            if any(p.startswith(("FxiOS/", "CriOS/", "Mobile/")) for p in products):
                return "Safari", _safari_version(products)
    return _fallback_browser(products)


def _fallback_browser(products):
    if not products or products[0].startswith(_NOT_A_BROWSER):
        return "", ""
    first = products[0]
    match = _FALLBACK_SLASH.search(first)
    if match is None:
        return "", ""
    slash = match.start() + 1
    return first[:slash], _version(first[slash + 1:], 2)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def goatcounter(user_agent):
    """GoatCounter's browser and system for a User-Agent header (spec/goatcounter.md §11.4)."""
    if not isinstance(user_agent, str):
        return UserAgentInfo()
    tokens, products = _tokenise(user_agent)
    system_name, system_version, ie = _system(tokens, products)
    browser_name, browser_version = _browser(user_agent, tokens, products, system_name, ie)
    return UserAgentInfo(browser_name, browser_version, system_name, system_version)


# ---------------------------------------------------------------------------------------------
# Umami (detect-browser 5.2.0 rules, spec/umami.md Appendices A and B)

_V = r"[0-9.]+"
_END = r"(?:\s|$)"
_UMAMI_BROWSERS = [(identifier, re.compile(pattern)) for identifier, pattern in (
    ("aol", rf"AOLShield/{_V}"),
    ("edge", rf"Edge/{_V}"),
    ("edge-ios", rf"EdgiOS/{_V}"),
    ("yandexbrowser", rf"YaBrowser/{_V}"),
    ("kakaotalk", rf"KAKAOTALK\s{_V}"),
    ("samsung", rf"SamsungBrowser/{_V}"),
    ("silk", rf"\bSilk/{_V}\b"),
    ("miui", rf"MiuiBrowser/{_V}$"),
    ("beaker", rf"BeakerBrowser/{_V}"),
    ("edge-chromium", rf"EdgA?/{_V}"),
    ("chromium-webview", rf"wv\).*Chrom(?:e|ium)/{_V}{_END}"),
    ("chrome", rf"(?!Chrom.*OPR)Chrom(?:e|ium)/{_V}{_END}"),
    ("phantomjs", rf"PhantomJS/{_V}{_END}"),
    ("crios", rf"CriOS/{_V}{_END}"),
    ("firefox", rf"Firefox/{_V}{_END}"),
    ("fxios", rf"FxiOS/{_V}"),
    ("opera-mini", rf"Opera Mini.*Version/{_V}"),
    ("opera", rf"Opera/{_V}{_END}|OPR/{_V}{_END}"),
    ("ie", rf"Trident/7\.0.*rv:{_V}.*\).*Gecko$|MSIE\s{_V};.*Trident/[4-7]\.0|MSIE\s7\.0"),
    ("bb10", rf"BB10;\sTouch.*Version/{_V}"),
    ("android", rf"Android\s{_V}"),
    ("ios", rf"Version/{_V}.*Mobile.*Safari"),
    ("safari", rf"Version/{_V}.*Safari"),
    ("facebook", rf"FBAV/{_V}"),
    ("instagram", rf"Instagram\s{_V}"),
    ("ios-webview", rf"AppleWebKit/{_V}.*Mobile|AppleWebKit/{_V}.*Gecko\)$"),
    ("searchbot", r"alexa|bot|crawler|crawling|facebookexternalhit|feedburner|google web preview"
                  r"|nagios|postrank|pingdom|slurp|spider|yahoo!|yandex"),
)]

_UMAMI_SYSTEMS = (
    ("iOS", ("iPhone", "iPod", "iPad")),
    ("Android OS", ("Android",)),
    ("BlackBerry OS", ("BlackBerry", "BB10")),
    ("Windows Mobile", ("IEMobile",)),
    ("Amazon OS", ("Kindle",)),
    ("Windows 3.11", ("Win16",)),
    ("Windows 95", ("Windows 95", "Win95", "Windows_95")),
    ("Windows 98", ("Windows 98", "Win98")),
    ("Windows 2000", ("Windows NT 5.0", "Windows 2000")),
    ("Windows XP", ("Windows NT 5.1", "Windows XP")),
    ("Windows Server 2003", ("Windows NT 5.2",)),
    ("Windows Vista", ("Windows NT 6.0",)),
    ("Windows 7", ("Windows NT 6.1",)),
    ("Windows 8", ("Windows NT 6.2",)),
    ("Windows 8.1", ("Windows NT 6.3",)),
    ("Windows 10", ("Windows NT 10.0",)),
    ("Windows ME", ("Windows ME",)),
    ("Open BSD", ("OpenBSD",)),
    ("Sun OS", ("SunOS",)),
    ("Chrome OS", ("CrOS",)),
    ("Linux", ("Linux", "X11")),
    ("Mac OS", ("Mac_PowerPC", "Macintosh")),
    ("QNX", ("QNX",)),
    ("BeOS", ("BeOS",)),
    ("OS/2", ("OS/2",)),
)

_MOBILE_OS = frozenset(("iOS", "Android OS", "BlackBerry OS", "Windows Mobile", "Amazon OS"))
_DESKTOP_OS = frozenset(name for name, _ in _UMAMI_SYSTEMS) - _MOBILE_OS
_DESKTOP_WIDTH, _LAPTOP_WIDTH, _MOBILE_WIDTH = 1920, 1024, 479
# What JavaScript's Number(string) accepts, after trimming whitespace ("" is 0).
_JS_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?Infinity")
_JS_RADIX = re.compile(r"0([bBoO])([0-9]+)")


@functools.lru_cache(maxsize=_CACHE_SIZE)
def umami_browser(user_agent):
    """Umami's browser identifier ("chrome", "edge-chromium", "ios", …) or None (Appendix A)."""
    if not user_agent or not isinstance(user_agent, str):
        return None
    for identifier, pattern in _UMAMI_BROWSERS:
        if pattern.search(user_agent):
            return identifier
    return None


@functools.lru_cache(maxsize=_CACHE_SIZE)
def umami_os(user_agent):
    """Umami's OS name ("Windows 10", "Mac OS", "Android OS", …) or None (Appendix B)."""
    if not user_agent or not isinstance(user_agent, str):
        return None
    for name, needles in _UMAMI_SYSTEMS:
        if any(needle in user_agent for needle in needles):
            return name
    return None


def _js_number(text):
    """JavaScript's Number(text) for a string; None stands for NaN."""
    text = text.strip()
    if not text:
        return 0.0
    if _JS_DECIMAL.fullmatch(text):
        return float(text.replace("Infinity", "inf"))
    radix = _JS_RADIX.fullmatch(text)
    if radix:
        try:
            return float(int(radix.group(2), 2 if radix.group(1) in "bB" else 8))
        except ValueError:
            return None
    return None


def umami_device(screen, os_name):
    """Umami's device class ("desktop", "laptop", "tablet", "mobile") from the `screen`
    payload field ("1920x1080") and the Umami OS name; None without a screen (§6.5)."""
    if not screen or not isinstance(screen, str):
        return None
    width = _js_number(screen.split("x", 1)[0])

    def at_least(limit):
        return width is not None and width >= limit

    if os_name in _DESKTOP_OS:
        if os_name == "Chrome OS" or (width is not None and width < _DESKTOP_WIDTH):
            return "laptop"
        return "desktop"
    if os_name in _MOBILE_OS:
        if os_name == "Amazon OS" or (width is not None and width > _MOBILE_WIDTH):
            return "tablet"
        return "mobile"
    if at_least(_DESKTOP_WIDTH):
        return "desktop"
    if at_least(_LAPTOP_WIDTH):
        return "laptop"
    if at_least(_MOBILE_WIDTH):
        return "tablet"
    return "mobile"
