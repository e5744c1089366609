"""The stats dataset's vocabulary: real User-Agent templates with versions that move with the
calendar (so the real UA parser sees many browser and system versions), screens that fit the
device, visitor countries with their languages, referrer sources, campaigns and events."""
import bisect
import itertools

_WIN, _MAC = "Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7"
_BLINK = "AppleWebKit/537.36 (KHTML, like Gecko)"
_WEBKIT = "AppleWebKit/605.1.15 (KHTML, like Gecko)"

# (weight, device, template). {c}: Chrome major, {f}: Firefox major, {s}: Safari version,
# {i}: iOS version with underscores, {a}: Android version, {n}: Samsung Internet major.
AGENTS = (
    (22, "desktop", f"Mozilla/5.0 ({_WIN}) {_BLINK} Chrome/{{c}}.0.0.0 Safari/537.36"),
    (9, "desktop", f"Mozilla/5.0 ({_MAC}) {_BLINK} Chrome/{{c}}.0.0.0 Safari/537.36"),
    (3, "desktop", f"Mozilla/5.0 (X11; Linux x86_64) {_BLINK} Chrome/{{c}}.0.0.0 Safari/537.36"),
    (14, "mobile", f"Mozilla/5.0 (Linux; Android 10; K) {_BLINK} Chrome/{{c}}.0.0.0 Mobile "
                   "Safari/537.36"),
    (13, "mobile", f"Mozilla/5.0 (iPhone; CPU iPhone OS {{i}} like Mac OS X) {_WEBKIT} "
                   "Version/{s} Mobile/15E148 Safari/604.1"),
    (2, "tablet", f"Mozilla/5.0 (iPad; CPU OS {{i}} like Mac OS X) {_WEBKIT} Version/{{s}} "
                  "Mobile/15E148 Safari/604.1"),
    (6, "desktop", f"Mozilla/5.0 ({_MAC}) {_WEBKIT} Version/{{s}} Safari/605.1.15"),
    (5, "desktop", f"Mozilla/5.0 ({_WIN}; rv:{{f}}.0) Gecko/20100101 Firefox/{{f}}.0"),
    (2, "desktop", "Mozilla/5.0 (X11; Linux x86_64; rv:{f}.0) Gecko/20100101 Firefox/{f}.0"),
    (1.5, "desktop", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:{f}.0) Gecko/20100101 "
                     "Firefox/{f}.0"),
    (1, "desktop", "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:{f}.0) Gecko/20100101 "
                   "Firefox/{f}.0"),
    (6, "desktop", f"Mozilla/5.0 ({_WIN}) {_BLINK} Chrome/{{c}}.0.0.0 Safari/537.36 "
                   "Edg/{c}.0.0.0"),
    (2.5, "mobile", f"Mozilla/5.0 (Linux; Android {{a}}; SAMSUNG SM-S918B) {_BLINK} "
                    "SamsungBrowser/{n}.0 Chrome/{c}.0.0.0 Mobile Safari/537.36"),
    (1, "desktop", f"Mozilla/5.0 ({_WIN}) {_BLINK} Chrome/{{c}}.0.0.0 Safari/537.36 "
                   "OPR/{c}.0.0.0"),
    (1.5, "mobile", f"Mozilla/5.0 (iPhone; CPU iPhone OS {{i}} like Mac OS X) {_WEBKIT} "
                    "CriOS/{c}.0.6778.73 Mobile/15E148 Safari/604.1"),
    (1, "mobile", "Mozilla/5.0 (Android {a}; Mobile; rv:{f}.0) Gecko/{f}.0 Firefox/{f}.0"),
    (1, "desktop", f"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) {_BLINK} Chrome/{{c}}.0.0.0 "
                   "Safari/537.36"),
    (0.5, "desktop", f"Mozilla/5.0 (Windows NT 6.1; Win64; x64) {_BLINK} Chrome/109.0.0.0 "
                     "Safari/537.36"),
)
_AGENT_WEIGHTS = list(itertools.accumulate(weight for weight, _, _ in AGENTS))
# Lag behind the newest release: most browsers update themselves, some never do.
_LAG = list(itertools.accumulate((60, 25, 5, 3, 2, 1, 1, 1, 1, 1)))
_IOS = ("17_6", "18_0", "18_1", "18_2", "18_3", "18_4", "18_5", "18_6", "26_0", "26_1", "26_2")
_SAFARI = ("17.6", "18.0", "18.1", "18.2", "18.3", "18.4", "18.5", "18.6", "26.0", "26.1", "26.2")

SCREENS = {   # (width, height, device pixel ratio), weight
    "desktop": (((1920, 1080, 1), 30), ((1366, 768, 1), 10), ((1536, 864, 1.25), 10),
                ((1440, 900, 2), 8), ((2560, 1440, 1), 9), ((1280, 720, 1), 4),
                ((3840, 2160, 1.5), 3), ((1680, 1050, 1), 4), ((1600, 900, 1), 3),
                ((1280, 800, 2), 3)),
    "mobile": (((390, 844, 3), 20), ((414, 896, 2), 10), ((360, 800, 3), 15),
               ((412, 915, 2.625), 14), ((393, 873, 2.75), 10), ((430, 932, 3), 10),
               ((375, 667, 2), 6), ((384, 854, 2.8125), 4)),
    "tablet": (((768, 1024, 2), 5), ((820, 1180, 2), 4), ((1024, 1366, 2), 2)),
}
_SCREEN_WEIGHTS = {device: list(itertools.accumulate(w for _, w in sizes))
                   for device, sizes in SCREENS.items()}

COUNTRIES = (("US", 27), ("DE", 8), ("GB", 6), ("IN", 6), ("FR", 4), ("CA", 4), ("NL", 3),
             ("BR", 3), ("JP", 2.5), ("PL", 2), ("ES", 2), ("IT", 2), ("AU", 2), ("SE", 1.5),
             ("CN", 1.5), ("RU", 1.5), ("KR", 1), ("CH", 1), ("AT", 1), ("BE", 1), ("MX", 1),
             ("UA", 1), ("CZ", 0.8), ("FI", 0.7), ("NO", 0.7), ("DK", 0.7), ("ID", 0.7),
             ("TR", 0.7), ("AR", 0.5), ("ZA", 0.5), ("*", 12))
LANGUAGE_OF = {
    "US": "en-US,en;q=0.9", "GB": "en-GB,en;q=0.9", "CA": "en-CA,en;q=0.9,fr-CA;q=0.8",
    "AU": "en-AU,en;q=0.9", "IN": "en-IN,en;q=0.9,hi;q=0.8", "DE": "de-DE,de;q=0.9,en;q=0.8",
    "AT": "de-AT,de;q=0.9", "CH": "de-CH,de;q=0.9,fr;q=0.7", "FR": "fr-FR,fr;q=0.9,en;q=0.7",
    "BE": "nl-BE,nl;q=0.9,fr;q=0.8", "NL": "nl-NL,nl;q=0.9,en;q=0.8", "ES": "es-ES,es;q=0.9",
    "MX": "es-MX,es;q=0.9", "AR": "es-AR,es;q=0.9", "BR": "pt-BR,pt;q=0.9", "IT": "it-IT,it;q=0.9",
    "PL": "pl-PL,pl;q=0.9,en;q=0.8", "JP": "ja-JP,ja;q=0.9", "CN": "zh-CN,zh;q=0.9",
    "KR": "ko-KR,ko;q=0.9", "RU": "ru-RU,ru;q=0.9", "UA": "uk-UA,uk;q=0.9,ru;q=0.8",
    "SE": "sv-SE,sv;q=0.9,en;q=0.8", "CZ": "cs-CZ,cs;q=0.9", "FI": "fi-FI,fi;q=0.9",
    "NO": "nb-NO,nb;q=0.9,en;q=0.8", "DK": "da-DK,da;q=0.9", "ID": "id-ID,id;q=0.9",
    "TR": "tr-TR,tr;q=0.9", "ZA": "en-ZA,en;q=0.9,af;q=0.8",
}

SEARCH = (("https://www.google.com/",) * 10 + ("https://www.google.de/", "https://www.google.co.uk/",
          "https://www.google.fr/", "https://www.google.co.in/", "https://www.google.com.br/")
          + ("https://www.bing.com/",) * 2
          + ("https://duckduckgo.com/", "https://duckduckgo.com/", "https://search.brave.com/",
             "https://www.ecosia.org/", "https://yandex.ru/", "https://www.baidu.com/",
             "https://kagi.com/", "https://www.qwant.com/"))
SOCIAL = ("https://t.co/{code}", "https://news.ycombinator.com/item?id={n}",
          "https://news.ycombinator.com/", "https://www.reddit.com/r/programming/comments/{code}/",
          "https://old.reddit.com/r/selfhosted/comments/{code}/", "https://lobste.rs/s/{code}",
          "https://l.facebook.com/", "https://www.linkedin.com/", "https://mastodon.social/@{code}",
          "https://fosstodon.org/@{code}", "https://github.com/", "https://bsky.app/profile/{code}",
          "https://www.youtube.com/", "https://dev.to/{code}")
CAMPAIGNS = (("newsletter", "email", "newsletter-{month}"), ("twitter", "social", "launch"),
             ("github", "referral", "readme"), ("partner", "affiliate", "black-friday"),
             ("producthunt", "referral", "launch-day"), ("google", "cpc", "brand-{month}"),
             ("mastodon", "social", "release-notes"))
EVENTS = (("signup-button", "click"), ("download-tarball", "click"), ("newsletter-form", "submit"),
          ("scroll-75", "scroll"), ("outbound-github", "click"), ("copy-snippet", "click"))
WORDS = ("self", "hosted", "analytics", "privacy", "flask", "python", "postgres", "redis", "speed",
         "guide", "setup", "sessions", "rollups", "tracking", "script", "goatcounter", "umami",
         "dashboard", "export", "import", "release", "notes", "how", "why", "scaling", "nginx",
         "cookies", "gdpr", "docker", "backup", "sqlite", "metrics", "referrers", "campaigns",
         "events", "widgets", "api", "tokens", "queries", "indexes", "vacuum", "htmx", "charts")


def pick_agent(rng, months):
    """(User-Agent, device) for a visitor ``months`` months into the year."""
    _, device, template = AGENTS[bisect.bisect(_AGENT_WEIGHTS, rng.random() * _AGENT_WEIGHTS[-1])]
    lag = bisect.bisect(_LAG, rng.random() * _LAG[-1])
    step = int(months) - lag
    apple = min(max(step // 2 + 5, 0), len(_IOS) - 1)
    return template.format(c=132 + step, f=134 + step, s=_SAFARI[apple], i=_IOS[apple],
                           a=(13, 14, 14, 15, 15, 16)[min(max(step // 2 + 2, 0), 5)],
                           n=27 + step // 3), device


def screen_for(rng, device):
    sizes = SCREENS[device]
    return sizes[bisect.bisect(_SCREEN_WEIGHTS[device],
                               rng.random() * _SCREEN_WEIGHTS[device][-1])][0]
