"""Visitor language: Accept-Language headers and BCP 47 tags → ISO 639-3 codes and their English
names (spec/goatcounter.md §11.8). Unknown or malformed input yields "", never an error."""
import functools
import re

import pycountry

UNKNOWN_NAME = "(unknown)"

# A BCP 47 tag whose primary language subtag is 2–3 letters; later subtags 1–8 alphanumerics.
_TAG = re.compile(r"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*")
# Deprecated ISO 639-1 codes that BCP 47 parsers still map to their current ones.
_DEPRECATED = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro"}
# Codes that name no language (ISO 639 "undetermined"): no base language can be determined.
_UNDETERMINED = frozenset({"und"})
_QVALUE = re.compile(r"[qQ]\s*=\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_MAX_ENTRIES = 64


@functools.lru_cache(maxsize=1024)
def iso639_3(tag):
    """The ISO 639-3 code of a BCP 47 tag's base language ("en-US" → "eng", "fr" → "fra");
    "" when the tag is empty, malformed ("klingon") or names no known language ("xx")."""
    if not isinstance(tag, str):
        return ""
    match = _TAG.fullmatch(tag.strip())
    if match is None:
        return ""
    base = match.group(1).lower()
    base = _DEPRECATED.get(base, base)
    if base in _UNDETERMINED:
        return ""
    try:
        if len(base) == 2:
            language = pycountry.languages.get(alpha_2=base)
        else:
            language = pycountry.languages.get(alpha_3=base)
    except (KeyError, LookupError):
        return ""
    return getattr(language, "alpha_3", "") or ""


def from_accept_language(header):
    """The ISO 639-3 code of an Accept-Language header's preferred tag (highest q-value; the
    first of equals), or "" when that tag is "*", malformed or unknown."""
    if not isinstance(header, str):
        return ""
    best, best_q = "", 0.0
    for entry in header.split(",", _MAX_ENTRIES)[:_MAX_ENTRIES]:
        tag, *params = entry.split(";")
        tag = tag.strip()
        if not tag:
            continue
        q = _quality(params)
        if q is not None and q > best_q:
            best, best_q = tag, q
    return iso639_3(best) if best else ""


def _quality(params):
    """The q-value among an entry's parameters: 1.0 when absent, None when malformed."""
    for param in params:
        param = param.strip()
        if param[:1] in ("q", "Q"):
            match = _QVALUE.fullmatch(param)
            return float(match.group(1)) if match else None
    return 1.0


def name(code):
    """The English ISO 639-3 name of a code ("eng" → "English"); "(unknown)" for ""; an
    unknown code is returned as given."""
    if not code or not isinstance(code, str):
        return UNKNOWN_NAME
    try:
        language = pycountry.languages.get(alpha_3=code.lower())
    except (KeyError, LookupError):
        language = None
    return getattr(language, "name", None) or code
