"""The visitor counter (GoatCounter spec §7.3): /counter/<path>.json|html|svg|png shows how many
visitors a page (or, as TOTAL, the whole site) had, for sites that allow it. Answers are public
and cacheable for four hours; they carry counts only, never anything about visitors."""
import io
from datetime import datetime, time, timedelta, timezone
from email.utils import format_datetime

from flask import Response, jsonify, render_template, request

from app.clock import utcnow
from app.extensions import db
from app.ingest import ingest
from app.models import Site
from app.stats import service

CACHE_SECONDS = 4 * 3600
DEFAULT_SEPARATOR = 0x202F  # GoatCounter's default number format: a narrow no-break space
_AGO = {"week": timedelta(days=7), "month": timedelta(days=30), "year": timedelta(days=365)}
EXTENSIONS = ("json", "html", "svg", "png")


def register(bp):
    bp.add_url_rule("/counter/<path:name>", view_func=counter, methods=["GET"])
    # count.js asks for /counter/%2Fabout.json, i.e. the stored path "/about": werkzeug's path
    # converter never starts with a slash, so that form has a rule of its own.
    bp.add_url_rule("/counter//<path:name>", view_func=counter, methods=["GET"],
                    defaults={"slash": "/"}, merge_slashes=False)


def counter(name, slash=""):
    stem, dot, ext = (slash + name).rpartition(".")
    if not dot or ext not in EXTENSIONS:
        return _plain(400, "unknown extension; use .json, .html, .svg or .png")
    site = _site()
    if site is None:
        return _plain(400, f'no site at this domain ("{request.host}")')
    if not site.setting("allow_counter"):
        return _plain(403, "the visitor counter is not enabled for this site")
    try:
        start, end = _range(request.args.get("start", ""), request.args.get("end", ""))
    except ValueError:
        return _plain(400, "start must be YYYY-MM-DD, week, month or year; end YYYY-MM-DD")
    counts = _counts(site.id, stem, start, end)
    status = 200 if counts is not None else 404
    visitors, pageviews = counts or (0, 0)
    separator = _separator(site.id)
    unique, total = _format(visitors, separator), _format(pageviews, separator)
    return _cacheable(_render(ext, unique, total), status)


def _site():
    sites = ingest().sites
    return (sites.by_host(request.host)
            or sites.by_page(request.headers.get("Origin") or request.headers.get("Referer"))
            or sites.only_site())


def _range(start, end):
    """(start, end) as naive UTC datetimes or None (open): start is YYYY-MM-DD or week/month/
    year (that long ago); end is YYYY-MM-DD, inclusive."""
    now = utcnow()
    first = None
    if start in _AGO:
        first = now - _AGO[start]
    elif start:
        first = datetime.combine(datetime.strptime(start, "%Y-%m-%d").date(), time())
    last = datetime.combine(datetime.strptime(end, "%Y-%m-%d").date(), time(23, 59, 59)) \
        if end else None
    return first, last


def _counts(site_id, stem, start, end):
    """(visitors, pageviews) of the path as given, else as "/" + stem without slashes; of the
    whole site for TOTAL; None when no such path exists."""
    if stem == "TOTAL":
        return service.path_counts(site_id, None, start, end)
    counts = service.path_counts(site_id, stem, start, end)
    if counts is None:
        counts = service.path_counts(site_id, "/" + stem.strip("/"), start, end)
    return counts


def _separator(site_id):
    site = db.session.get(Site, site_id)
    value = (site.user_defaults or {}).get("number_format", DEFAULT_SEPARATOR) if site else \
        DEFAULT_SEPARATOR
    try:
        return chr(int(value)) if int(value) else ""
    except (TypeError, ValueError, OverflowError):
        return chr(DEFAULT_SEPARATOR)


def _format(number, separator):
    return f"{number:,}".replace(",", separator)


def _style():
    """The caller's extra CSS, unable to leave its <style> element."""
    return request.args.get("style", "").replace("<", "").replace(">", "")[:2000]


def _render(ext, unique, total):
    branding = request.args.get("no_branding", "") in ("", "0", "false")
    if ext == "json":
        response = jsonify(count_unique=unique, count=total)
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response
    if ext == "png":
        return Response(_png(unique), mimetype="image/png")
    template = "counter/counter.svg" if ext == "svg" else "counter/counter.html"
    mimetype = "image/svg+xml" if ext == "svg" else "text/html"
    body = render_template(template, count=unique, branding=branding, style=_style())
    return Response(body, mimetype=mimetype)


def _png(count):
    """A small badge with the count, drawn with Pillow's built-in font."""
    from PIL import Image, ImageDraw
    text = count.replace("\u202f", " ")  # the built-in font has no narrow no-break space
    width = 16 + 7 * len(text)
    image = Image.new("RGB", (width, 22), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width - 1, 21), outline=(153, 153, 153))
    draw.text((8, 5), text, fill=(0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _cacheable(response, status):
    response.status_code = status
    response.headers["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    response.headers["Expires"] = format_datetime(
        datetime.now(timezone.utc) + timedelta(seconds=CACHE_SECONDS), usegmt=True)
    return response


def _plain(status, message):
    return Response(message + "\n", status=status, mimetype="text/plain")
