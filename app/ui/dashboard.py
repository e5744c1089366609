"""The dashboard of a site: the page (controls, placeholders of the reader's widgets), the one
partial route serving every widget, "save as default view", and who may read it (logged-in
users; anyone for public sites; holders of the secret link; framed only by ``allow_embed``)."""
import hmac
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from flask import (Blueprint, abort, current_app, g, redirect, render_template, request,
                   url_for)
from flask_login import current_user, login_required

from app import accounts
from app.clock import utcnow
from app.exceptions import ValidationError
from app.extensions import db
from app.models import Site, User
from app.stats import summary
from app.stats.query import GROUPS, StatsQuery, zone_offset
from app.ui import charts, widgets
from app.ui.access import CSP, security_headers
from app.ui.forms import EmptyForm

bp = Blueprint("dashboard", __name__, url_prefix="/sites")
MAX_DAYS = 3660
FIRST_DATE, LAST_DATE = date(1970, 1, 1), date(9000, 12, 31)
STATE_KEYS = ("period", "period-start", "period-end", "group", "filter")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
SEPARATORS = {8239: "\u202f", 44: ",", 46: ".", 39: "'", 32: "\u00a0", 0: ""}


@bp.after_request
def _headers(response):
    security_headers(response)
    if g.get("embed_origins") is not None:
        # Embedded mode: framing allowed for the site's configured origins only.
        ancestors = " ".join(["'self'", *g.embed_origins])
        response.headers["Content-Security-Policy"] = CSP.replace(
            "frame-ancestors 'none'", f"frame-ancestors {ancestors}")
        del response.headers["X-Frame-Options"]
    return response


@bp.app_context_processor
def _theme():
    """The reader's theme for base.html: "light", "dark" or "" (follow the system)."""
    theme = ""
    if current_user.is_authenticated:
        theme = (current_user.settings or {}).get("theme") or ""
    return {"ui_theme": theme if theme in ("light", "dark") else ""}


def _site_or_404(site_id):
    site = db.session.get(Site, site_id)
    if site is None or not site.active:
        abort(404, "There is no such site.")
    return site


def _cookie(site):
    return f"ibex_dashboard_{site.id}"


def _may_read(site):
    if current_user.is_authenticated:
        return True
    visibility = site.setting("public")
    if visibility == "public":
        return True
    secret = site.setting("secret") or ""
    return visibility == "secret" and len(secret) >= 8 and hmac.compare_digest(
        request.cookies.get(_cookie(site), ""), secret)


def embed_origins(site):
    """The site's ``allow_embed`` entries that are plain origins (anything else is ignored,
    so nothing odd reaches the CSP header)."""
    values = site.setting("allow_embed") or []
    if isinstance(values, str):
        values = values.split(",")
    return [v.strip().rstrip("/") for v in values
            if isinstance(v, str) and _ORIGIN.match(v.strip().rstrip("/"))]


# --- the view's state (all of it in the URL) ---------------------------------------------------

@dataclass
class View:
    site: Site
    first: date
    last: date
    group: str
    filter: str
    period: str
    today: date
    query: StatsQuery
    errors: list = field(default_factory=list)

    def state(self, **changes):
        """The URL arguments of this view (with ``changes``), for links and partials."""
        args = {"period-start": self.first.isoformat(), "period-end": self.last.isoformat(),
                "group": self.group, "filter": self.filter or None}
        if self.period:
            args = {"period": self.period, "group": self.group, "filter": self.filter or None}
        args.update(changes)
        if request.args.get("hideui"):
            args["hideui"] = "1"
        order = {key: n for n, key in enumerate(STATE_KEYS)}
        return {k: args[k] for k in sorted(args, key=lambda k: order.get(k, len(order)))
                if args[k] not in (None, "")}


# What a public or secret-link reader sees of the site owner's settings: how numbers, dates and
# times are shown and the widget layout; never the owner's saved view or anything personal.
OWNER_DISPLAY = ("timezone", "sunday_starts_week", "twenty_four_hours", "number_format",
                 "date_format", "widgets")


def user_settings():
    return dict(current_user.settings or {}) if current_user.is_authenticated else {}


def reader_settings(site):
    """The settings a dashboard is shown with: the signed-in user's own; for a reader without
    an account, the site owner's display settings (time zone, week start, formats, widgets),
    so a public dashboard shows the owner's days and hours rather than UTC's."""
    if current_user.is_authenticated:
        return user_settings()
    owner = db.session.get(User, site.owner_id) if site.owner_id else None
    settings = (owner.settings or {}) if owner is not None else {}
    return {key: settings[key] for key in OWNER_DISPLAY if key in settings}


def _saved_view(settings):
    views = settings.get("views") or []
    view = views[0] if views and isinstance(views[0], dict) else {}
    group = view.get("group")
    if isinstance(group, int) and 0 <= group < len(GROUPS):
        group = GROUPS[group]
    return {"period": str(view.get("period") or "week"), "group": group,
            "filter": str(view.get("filter") or "")}


def _parse_date(value, name, errors):
    try:
        day = date.fromisoformat(value)
    except (TypeError, ValueError):
        errors.append(f"{name} must be a date like 2024-05-31.")
        return None
    if not FIRST_DATE <= day <= LAST_DATE:  # far dates would overflow the range arithmetic
        errors.append(f"{name} must be between {FIRST_DATE.year} and {LAST_DATE.year}.")
        return None
    return day


def build_view(site, args, settings, now=None):
    """The dashboard's state from the URL ``args`` (or the user's saved default view when
    the URL has none), as a View with its StatsQuery. Bad values become messages in
    ``errors`` and fall back to the defaults, never an exception."""
    tz = settings.get("timezone") or ".UTC"
    offset = zone_offset(tz)
    today = ((now or utcnow()) + timedelta(minutes=offset)).date()
    saved = _saved_view(settings)
    if not any(args.get(key) for key in STATE_KEYS):
        args = {**saved, "group": saved["group"] or ""}
    errors, period = [], args.get("period") or ""
    first = last = None
    if args.get("period-start") or args.get("period-end"):
        first = _parse_date(args.get("period-start"), "Start", errors)
        last = _parse_date(args.get("period-end"), "End", errors)
        period = ""
        if first and last and last < first:
            errors.append("The end date is before the start date.")
            first = last = None
        elif first and last and (last - first).days >= MAX_DAYS:
            errors.append(f"The period is too long: at most {MAX_DAYS} days.")
            first = last = None
    if not (first and last):
        try:
            first, last = summary.period_range(period or "week", today)
        except ValueError:
            errors.append("Unknown period; showing the last week.")
            period, (first, last) = "week", summary.period_range("week", today)
    group = summary.pick_group(first, last, args.get("group"), saved["group"])
    text = _clean(args.get("filter"))
    include, exclude = summary.filter_paths(site.id, text)
    shift = timedelta(minutes=offset)
    query = StatsQuery(site_id=site.id, start=datetime.combine(first, time()) - shift,
                       end=datetime.combine(last, time(23, 59, 59)) - shift, tz_offset=offset,
                       timezone=tz, include_paths=include, exclude_paths=exclude, group=group)
    return View(site, first, last, group, text, period, today, query, errors)


def _clean(value):
    """Text from the URL as the database can take it: at most 500 characters, no NUL."""
    return (value or "")[:500].replace("\x00", "")


class Formatter:
    """Numbers, percentages, durations and hours per the reader's settings."""

    def __init__(self, settings):
        self.sep = SEPARATORS.get(settings.get("number_format", 8239), "\u202f")
        self.h24 = settings.get("twenty_four_hours", True) is not False
        self._days = {}  # a year of paths charts labels the same 365 days ten times

    def num(self, value):
        return f"{int(round(value or 0)):,}".replace(",", self.sep)

    def pct(self, part, whole):
        return f"{part / whole * 100:.1f}%" if whole else "0%"

    def change(self, value):
        if value is None:
            return "new"
        return f"{'+' if value >= 0 else '−'}{abs(value):.0f}%"

    def duration(self, seconds):
        seconds = int(round(seconds or 0))
        minutes, seconds = divmod(seconds, 60)
        return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"

    def hour(self, hour):
        if self.h24:
            return f"{hour:02d}:00"
        return f"{(hour % 12) or 12} {'am' if hour < 12 else 'pm'}"

    def day(self, day):
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = f"{day.day} {day:%b %Y}"
        return text


def _step_links(view):
    links = []
    for unit in summary.STEPS:
        back = summary.step(view.first, view.last, unit, forward=False)
        ahead = summary.step(view.first, view.last, unit, forward=True)
        links.append((unit, _dates(view, *back), _dates(view, *ahead) if view.last < view.today
                      else None))
    return links


def _dates(view, first, last):
    return url_for("dashboard.show", site_id=view.site.id, **view.state(
        period=None, **{"period-start": first.isoformat(), "period-end": last.isoformat()}))


# --- routes -----------------------------------------------------------------------------------

@bp.route("/dashboard")
@login_required
def first():
    """The dashboard of the first site (the navigation's "Dashboard" link)."""
    sites = accounts.active_sites()
    if not sites:
        return redirect(url_for("sites.index"))
    return redirect(url_for("dashboard.show", site_id=sites[0].id))


@bp.route("/<int:site_id>/dashboard")
def show(site_id):
    site = _site_or_404(site_id)
    token = request.args.get("access-token")
    if token is not None and not current_user.is_authenticated:
        secret = site.setting("secret") or ""
        if site.setting("public") != "secret" or len(secret) < 8 \
                or not hmac.compare_digest(token, secret):
            abort(403, "This link is not valid (any more). Ask the site's owner for a new one.")
        args = {k: v for k, v in request.args.items() if k != "access-token"}
        response = redirect(url_for("dashboard.show", site_id=site.id, **args))
        response.set_cookie(_cookie(site), secret, httponly=True, samesite="Lax",
                            path=f"/sites/{site.id}/", secure=request.is_secure)
        return response
    if not _may_read(site):
        return current_app.login_manager.unauthorized()
    embed = bool(request.args.get("hideui"))
    if embed:
        g.embed_origins = embed_origins(site)
    settings = reader_settings(site)
    view = build_view(site, request.args, settings)
    layout = [(w, o) for w, o in widgets.layout(settings.get("widgets"))
              if current_user.is_authenticated or not w.members_only]
    sites = accounts.active_sites() if current_user.is_authenticated else []
    template = "dashboard/embed.html" if embed else "dashboard/index.html"
    return render_template(template, site=site, view=view, layout=layout,
                           sites=sites, embed=embed, steps=_step_links(view),
                           periods=list(summary.PERIODS), fmt=Formatter(settings),
                           groups=summary.allowed_groups(view.first, view.last),
                           save_form=EmptyForm())


@bp.route("/<int:site_id>/dashboard/widgets/<key>")
def widget(site_id, key):
    site = _site_or_404(site_id)
    if not _may_read(site):
        abort(403, "You cannot read this dashboard.")
    entry = widgets.get(key)
    if entry is None:
        abort(404, "There is no such widget.")
    if entry.members_only and not current_user.is_authenticated:
        abort(403, "Only the site's users can see this.")
    settings = reader_settings(site)
    view = build_view(site, request.args, settings)
    options = {w.key: s for w, s in widgets.layout(settings.get("widgets"))}.get(
        entry.key) or widgets.settings_for(entry, None)
    more = request.args.get("more", "1")
    ctx = widgets.Context(site=site, query=view.query, settings=options,
                          drill=_clean(request.args.get("drill")),
                          more=min(int(more), 20) if more.isdigit() and more != "0" else 1,
                          week_start=6 if settings.get("sunday_starts_week") else 0)
    state, data, message = "ok", {}, ""
    try:
        data = entry.load(ctx)
        state = "empty" if data.get("empty") else "ok"
    except ValidationError as exc:
        db.session.rollback()
        state, message = "error", f"This widget cannot show that: {exc}."
    except Exception:  # one failing widget must not break the page: log it, show its error
        db.session.rollback()
        current_app.logger.exception("dashboard widget %s failed (site %s)", key, site.id)
        state, message = "error", "This widget could not be loaded."
    # 200 even on error: htmx swaps only successful answers, and the error is the content.
    return render_template(entry.template, widget=entry, state=state, message=message,
                           view=view, site=site, ctx=ctx, fmt=Formatter(settings), charts=charts,
                           **data)


@bp.route("/<int:site_id>/dashboard/default-view", methods=["POST"])
@login_required
def save_view(site_id):
    site = _site_or_404(site_id)
    settings = user_settings()
    view = build_view(site, request.form, settings)
    if EmptyForm().validate_on_submit() and not view.errors:
        period = view.period or str((view.last - view.first).days)
        settings["views"] = [{"name": "default", "filter": view.filter,
                              "group": GROUPS.index(view.group), "period": period}]
        current_user.settings = settings
        db.session.commit()
    return redirect(url_for("dashboard.show", site_id=site.id, **view.state()))
