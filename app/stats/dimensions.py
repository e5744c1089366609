"""The dimension registry: each breakdown of visitors (browsers, systems, locations, languages,
sizes, campaigns, top referrers) is one entry saying which rollup it reads, how rows group and
are named, and how its drill-down works. ``service.breakdown`` and ``service.drilldown`` serve
them all."""
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import String, and_, case, cast, func, literal, select

from app.exceptions import ValidationError
from app.extensions import db
from app.stats import sql
from app.models import (Browser, BrowserStat, Campaign, CampaignStat, Language, LanguageStat,
                        Location, LocationStat, Path, Ref, RefCount, SizeStat, System,
                        SystemStat)

UNKNOWN = "(unknown)"
# Screen-width buckets (spec §11.5), in their fixed output order.
SIZE_BUCKETS = (("phone", 1, 600), ("tablet", 601, 1000), ("desktop", 1001, 1920),
                ("desktophd", 1921, None), ("unknown", 0, 0))


@dataclass(frozen=True)
class Row:
    """One breakdown row: ``id`` (None when the spec omits it), display ``name``, visitors."""
    id: str | None
    name: str
    count: int
    ref_scheme: str | None = None


@dataclass(frozen=True)
class Dimension:
    """``rows(q, link_domain)`` → a select of (key, name, count[, scheme]) in output order, before paging;
    ``drill(q, key)`` → a select of (name, count) in output order, or None when the
    dimension has no drill-down. ``day_based``: the rollup is per UTC day (else per hour).
    ``top(q, link_domain)`` → the rows of ``rows`` on q's page plus one (a faster way that
    gives the same rows), or None when it cannot, and ``rows`` is read."""
    name: str
    rows: Callable
    to_row: Callable
    drill: Callable | None = None
    day_based: bool = True
    paged: bool = True
    top: Callable | None = None


def _scope(q, table):
    """The WHERE clause of a per-path rollup read: site, range, path selection."""
    if getattr(table, "day", None) is not None:
        clauses = [table.site_id == q.site_id, table.day >= q.first_day, table.day <= q.last_day]
    else:
        clauses = [table.site_id == q.site_id, table.hour >= q.start, table.hour <= q.end]
    return and_(*clauses, *sql.path_clauses(q, table.path_id))


def _by_name(q, kind, stat, model, column):
    """Browsers/systems: visitors per name (all versions summed)."""
    src = sql.day_source(q, kind, stat, column)
    count = func.sum(src.visitors)
    return (select(model.name, model.name, count).select_from(src.table)
            .join(model, model.id == src.key).where(src.where)
            .group_by(model.name).having(count > 0).order_by(count.desc(), model.name))


def _named_versions(q, kind, stat, model, column, key):
    """Drill-down of browsers/systems: one row per version of the name ``key``."""
    src = sql.day_source(q, kind, stat, column)
    label = func.trim(model.name + literal(" ") + model.version)
    count = func.sum(src.visitors)
    return (select(label, count).select_from(src.table).join(model, model.id == src.key)
            .where(src.where, func.lower(model.name) == key.lower())
            .group_by(label).having(count > 0).order_by(count.desc(), label))


def _named_row(key, name, count):
    """Browsers and systems: the unknown ("") row has no id and an empty name."""
    return Row(id=key or None, name=name or "", count=int(count))


def _locations(q, _link_domain=""):
    # Locations are "CC" or "CC-RR"; the country is the first two characters ("" = unknown).
    src = sql.day_source(q, "l", LocationStat, "location")
    count = func.sum(src.visitors)
    country = func.substr(src.key, 1, 2)
    counts = (select(country.label("country"), count.label("visitors")).select_from(src.table)
              .where(src.where).group_by(country).having(count > 0).subquery())
    name = (select(func.max(Location.country_name)).where(Location.country == counts.c.country)
            .scalar_subquery())
    return (select(counts.c.country, name, counts.c.visitors)
            .order_by(counts.c.visitors.desc(), counts.c.country))


def _coded_row(key, name, count):
    if not key:
        return Row(id=UNKNOWN, name=UNKNOWN, count=int(count))
    return Row(id=key, name=name or key, count=int(count))


def _location_drill(q, key):
    # One row per stored location (the country-level row and each region), named by region.
    src = sql.day_source(q, "l", LocationStat, "location")
    counts = (select(src.key.label("code"), func.sum(src.visitors).label("visitors"))
              .select_from(src.table).where(src.where, func.substr(src.key, 1, 2) == key.upper()[:2])
              .group_by(src.key).subquery())
    name = func.coalesce(Location.region_name, literal(""))
    return (select(name, counts.c.visitors)
            .join(Location, Location.code == counts.c.code, isouter=True)
            .where(counts.c.visitors > 0)
            .order_by(counts.c.visitors.desc(), name, counts.c.code))


def _languages(q, _link_domain=""):
    src = sql.day_source(q, "g", LanguageStat, "language")
    count = func.sum(src.visitors)
    return (select(src.key, func.max(Language.name), count).select_from(src.table)
            .join(Language, Language.iso_639_3 == src.key, isouter=True)
            .where(src.where).group_by(src.key).having(count > 0)
            .order_by(count.desc(), src.key))


def _size_bucket(width):
    whens = [(width == 0, "unknown")]
    for bucket, low, high in SIZE_BUCKETS[:-1]:
        whens.append(((width >= low) & (width <= high), bucket) if high else
                     (width >= low, bucket))
    return case(*whens, else_="unknown")


def _sizes(q, _link_domain=""):
    src = sql.day_source(q, "z", SizeStat, "width")
    bucket = _size_bucket(src.key)
    return (select(bucket, literal(""), func.sum(src.visitors)).select_from(src.table)
            .where(src.where).group_by(bucket))


def _size_drill(q, key):
    names = [bucket for bucket, _, _ in SIZE_BUCKETS]
    if key not in names:
        raise ValidationError.single("id", "must be one of ‘" + ", ".join(names) + "’")
    src = sql.day_source(q, "z", SizeStat, "width")
    count = func.sum(src.visitors)
    # Ordered as the names "↔︎ <width>px" sort as strings (spec §5.11).
    return (select(src.key, count).select_from(src.table)
            .where(src.where, _size_bucket(src.key) == key)
            .group_by(src.key).having(count > 0).order_by(count.desc(), cast(src.key, String)))


def _campaigns(q, _link_domain=""):
    src = sql.day_source(q, "c", CampaignStat, "campaign_id")
    count = func.sum(src.visitors)
    return (select(Campaign.id, func.max(Campaign.name), count).select_from(src.table)
            .join(Campaign, Campaign.id == src.key).where(src.where)
            .group_by(Campaign.id).having(count > 0).order_by(count.desc(), Campaign.id))


def _campaign_drill(q, key):
    if not key.isdigit() or int(key) > 2**31 - 1:
        raise ValidationError.single("id", "must be a whole number")
    count = func.sum(CampaignStat.visitors)
    return (select(CampaignStat.ref, count)
            .where(_scope(q, CampaignStat), CampaignStat.campaign_id == int(key))
            .group_by(CampaignStat.ref).having(count > 0).order_by(count.desc(), CampaignStat.ref))


def _toprefs(q, link_domain=""):
    src = sql.hour_source(q, "r", RefCount, "ref_id")
    # Summed per referrer id first, then joined to the referrers: the join and the text
    # columns then touch one row per referrer, not one per rollup row.
    count = func.sum(src.visitors)
    counts = (select(src.key.label("ref_id"), count.label("visitors")).select_from(src.table)
              .where(src.where).group_by(src.key).having(count > 0).subquery())
    query = (select(Ref.ref, Ref.ref, counts.c.visitors, Ref.ref_scheme, Ref.id)
             .join(Ref, Ref.id == counts.c.ref_id)
             .order_by(counts.c.visitors.desc(), Ref.id))
    own = own_referrer_prefix(link_domain)
    if own:
        query = query.where(~Ref.ref_key.startswith(own.lower(), autoescape=True))
    return query


def top_refs(q, link_domain=""):
    """The rows _toprefs(q, link_domain) gives from q.offset to q.offset + q.limit + 1 (what
    service.breakdown reads), found from each month's most visited referrers instead of
    summing every referrer of the range (sql.top_candidates); None when that cannot prove
    the order, the caller then reads _toprefs. Site-wide ranges only: a path filter reads
    the per-path ref_counts, never the long tail of a year's monthly rows."""
    need = q.offset + q.limit + 1
    refs = {}

    def shown(keys):  # the candidates that are not the site's own referrers, with their texts
        query = select(Ref.id, Ref.ref, Ref.ref_scheme).where(Ref.id.in_(keys))
        own = own_referrer_prefix(link_domain)
        if own:
            query = query.where(~Ref.ref_key.startswith(own.lower(), autoescape=True))
        refs.update({ref_id: (ref, scheme) for ref_id, ref, scheme in db.session.execute(query)})
        return list(refs)

    top = sql.top_keys(q, "r", RefCount, "ref_id", need, keep=shown)
    if top is None:
        return None
    return [(refs[key][0], refs[key][0], total, refs[key][1], key)
            for key, total in top[q.offset:need]]


def _ref_row(key, name, count, scheme, _ref_id=None):
    return Row(id=key or None, name=name or "", count=int(count), ref_scheme=scheme)


def _toprefs_drill(q, key):
    # Summed per path first (only the rows of the referrers with this name), then joined to
    # the paths: one path lookup per path, not one per rollup row.
    count = func.sum(RefCount.visitors)
    counts = (select(RefCount.path_id.label("path_id"), count.label("visitors"))
              .where(_scope(q, RefCount),
                     RefCount.ref_id.in_(select(Ref.id).where(Ref.ref_key == key.lower())))
              .group_by(RefCount.path_id).having(count > 0).subquery())
    return (select(Path.path, counts.c.visitors).join(Path, Path.id == counts.c.path_id)
            .order_by(counts.c.visitors.desc(), Path.path))


DIMENSIONS = {d.name: d for d in (
    Dimension("browsers", lambda q, _="": _by_name(q, "b", BrowserStat, Browser, "browser_id"),
              _named_row,
              lambda q, key: _named_versions(q, "b", BrowserStat, Browser, "browser_id", key)),
    Dimension("systems", lambda q, _="": _by_name(q, "s", SystemStat, System, "system_id"),
              _named_row,
              lambda q, key: _named_versions(q, "s", SystemStat, System, "system_id", key)),
    Dimension("locations", _locations, _coded_row, _location_drill),
    Dimension("languages", _languages, _coded_row),
    Dimension("sizes", _sizes, lambda key, name, count: Row(key, name, int(count)),
              _size_drill, paged=False),
    Dimension("campaigns", _campaigns, lambda key, name, count: Row(str(key), name, int(count)),
              _campaign_drill),
    Dimension("toprefs", _toprefs, _ref_row, _toprefs_drill, day_based=False, top=top_refs),
)}


def get(name, drill=False):
    """The registered dimension called ``name`` (with ``drill``: one that has a drill-down),
    or ValidationError on ``page``."""
    dimension = DIMENSIONS.get(name)
    if dimension is None or (drill and dimension.drill is None):
        names = [n for n, d in DIMENSIONS.items() if d.drill or not drill]
        raise ValidationError.single("page", "must be one of ‘" + ", ".join(names) + "’")
    return dimension


def own_referrer_prefix(link_domain):
    """A site's link domain as its referrers start (scheme and trailing "/" removed)."""
    domain = link_domain or ""
    for scheme in ("https://", "http://"):
        domain = domain.removeprefix(scheme)
    return domain.rstrip("/")
