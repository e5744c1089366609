"""Site settings in GoatCounter's terms (spec §5.13–§5.14): validation with ``settings.<field>``
messages, replace (POST) versus merge (PATCH), child sites. The GoatCounter API calls these;
they take explicit arguments, raise ValidationError and commit through app.accounts."""
import re
from urllib.parse import urlsplit

import pycountry
from sqlalchemy import select

from app import accounts
from app.exceptions import ValidationError
from app.extensions import db
from app.models import Collect, Site
from app.models.sites import COLLECT_DEFAULT
from app.netaddr import parse_network

# GoatCounter's SiteSettings, in its field order; Ibex's own keys (ip_mode, dnt) are kept
# whatever a GoatCounter client sends.
FIELDS = ("public", "secret", "allow_counter", "allow_bosmang", "data_retention", "ignore_ips",
          "collect", "collect_regions", "allow_embed")
VISIBILITIES = ("private", "secret", "public")
DEFAULT_REGIONS = ["US", "RU", "CN"]
MAX_RETENTION = 1825
_ALPHANUMERIC = re.compile(r"^[A-Za-z0-9]*$")
_COUNTRIES = frozenset(country.alpha_2 for country in pycountry.countries)


def goatcounter_settings(site):
    """A site's settings as GoatCounter's SiteSettings (lists as lists)."""
    settings = {key: site.setting(key) for key in FIELDS if key != "ignore_ips"}
    settings["ignore_ips"] = [entry.display for entry in site.ignored_ips]
    return {key: settings[key] for key in FIELDS}


def zero_settings():
    """What a replacing save starts from: GoatCounter's zero values, defaulted on save."""
    return {"public": "", "secret": "", "allow_counter": False, "allow_bosmang": False,
            "data_retention": 0, "ignore_ips": [], "collect": 0, "collect_regions": None,
            "allow_embed": []}


def merged(current, sent, merge):
    """``sent`` settings over ``current`` (merge) or over zero values (replace). A merge ORs
    ``collect`` into the current flags, as GoatCounter does (a PATCH cannot remove flags)."""
    base = dict(current) if merge else zero_settings()
    for key, value in (sent or {}).items():
        if key == "collect" and merge:
            value = (base.get("collect") or 0) | value
        base[key] = value
    return base


def validate(settings):
    """Defaults filled in and values normalised; raises ValidationError keyed settings.<field>."""
    out, errors = dict(settings), {}

    def fail(field, message):
        errors.setdefault(f"settings.{field}", []).append(message)

    out["public"] = out.get("public") or "private"
    if out["public"] not in VISIBILITIES:
        fail("public", f"must be one of ‘{', '.join(VISIBILITIES)}’")
    secret = out.get("secret") or ""
    if out["public"] == "secret":
        if len(secret) < 8:
            fail("secret", "must be longer than 8 characters")
        if len(secret) > 40:
            fail("secret", "must be shorter than 40 characters")
        if not _ALPHANUMERIC.match(secret):
            fail("secret", "must be alphanumeric")
    retention = out.get("data_retention") or 0
    if retention and retention < 31:
        fail("data_retention", "must be 31 or higher")
    elif retention > MAX_RETENTION:
        fail("data_retention", f"must be {MAX_RETENTION} or lower")
    collect = out.get("collect") or COLLECT_DEFAULT
    if collect < 0:
        fail("collect", "must be 0 or higher")
    elif collect > sum(Collect):
        fail("collect", f"must be {sum(Collect)} or lower")
    if collect & Collect.LOCATION_REGION:
        collect |= Collect.LOCATION
    out["collect"] = int(collect)
    regions = out.get("collect_regions")
    out["collect_regions"] = list(DEFAULT_REGIONS) if regions is None else [
        region.upper() for region in regions]
    for region in out["collect_regions"]:
        if region not in _COUNTRIES:
            fail("collect_regions", f"must be a valid country code, not ‘{region}’")
    for entry in out.get("allow_embed") or ():
        if entry == "*":
            fail("allow_embed", "cannot be ‘*’")
        elif not _valid_origin(entry):
            fail("allow_embed", "must be a valid url")
    for entry in out.get("ignore_ips") or ():
        try:
            parse_network(entry)
        except ValueError:
            fail("ignore_ips", "must be a valid IPv4 or IPv6 address")
    if errors:
        raise ValidationError(errors)
    return out


def _valid_origin(entry):
    try:
        url = urlsplit(entry if "//" in entry else "//" + entry)
        hostname = url.hostname
    except ValueError:  # e.g. "[": an unterminated IPv6 literal
        return False
    if url.scheme not in ("", "http", "https") or not hostname:
        return False
    try:
        accounts.normalise_domain(hostname)
    except ValidationError:
        return hostname == "localhost"
    return True


def _site_errors(cname, settings):
    """Validate the whole site; returns (cname, settings) or raises one ValidationError with
    every problem (cname and settings.<field> keys)."""
    errors = {}
    try:
        settings = validate(settings)
    except ValidationError as exc:
        errors.update(exc.errors)
    if not cname:
        errors["cname"] = ["must be set"]
    else:
        try:
            cname = accounts.normalise_domain(cname)
        except ValidationError:
            errors["cname"] = ["must be a valid domain"]
    if errors:
        raise ValidationError(errors)
    return cname, settings


def _as_cname_errors(exc):
    """accounts reports the site's domain as ``domain``; GoatCounter calls it ``cname``."""
    renamed = {"domain": "cname", "ignore_ips": "settings.ignore_ips"}
    return ValidationError({renamed.get(key, key): msgs for key, msgs in exc.errors.items()})


def create_child(parent, owner, *, cname, link_domain, settings):
    """A new active site under ``parent`` (GoatCounter's PUT /api/v0/sites): self-hosted
    rules, so ``cname`` is required and unique; a generated ``serve-…`` code."""
    cname, settings = _site_errors(cname, merged({}, settings, merge=False))
    ignore_ips = settings.pop("ignore_ips", [])
    try:
        return accounts.create_site(cname, owner=owner, link_domain=link_domain or "",
                                    parent=parent, settings=settings, ignore_ips=ignore_ips)
    except ValidationError as exc:
        raise _as_cname_errors(exc) from None


def save(site, *, sent, merge):
    """POST (``merge`` False: what is not sent is reset) or PATCH (``merge`` True) of
    GoatCounter's ``{"cname", "link_domain", "settings"}`` on ``site``. Returns the site."""
    if merge:
        cname = sent.get("cname", site.cname)
        link_domain = sent.get("link_domain", site.link_domain)
    else:
        cname, link_domain = sent.get("cname"), sent.get("link_domain", "")
    settings = merged(goatcounter_settings(site), sent.get("settings"), merge)
    cname, settings = _site_errors(cname, settings)
    try:
        accounts.set_ignored_ips(site, settings.pop("ignore_ips", []), commit=False)
        return accounts.update_site(site, domain=cname, link_domain=link_domain or "",
                                    settings=settings)
    except ValidationError as exc:
        db.session.rollback()
        raise _as_cname_errors(exc) from None


def family(site):
    """``site`` followed by its active child sites ordered by code."""
    children = db.session.scalars(select(Site).where(
        Site.parent_id == site.id, Site.state == "a").order_by(Site.code)).all()
    return [site, *children]


def in_family(site, site_id):
    """The site ``site_id`` when it is ``site`` or one of its active children, else None."""
    found = db.session.get(Site, site_id)
    if found is None or found.state != "a":
        return None
    return found if found.id == site.id or found.parent_id == site.id else None


__all__ = ["FIELDS", "goatcounter_settings", "validate", "merged", "create_child", "save",
           "family", "in_family"]
