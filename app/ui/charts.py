"""Server-rendered SVG charts for the dashboard widgets: one bar per bucket, each with a
<title> as its tooltip. Built in Python rather than with a Jinja macro per bar: a year of
daily bars for ten paths is thousands of elements, and macro calls made that the widget's
slowest part. Every text is escaped here."""
from markupsafe import Markup, escape

UNIT = 10   # SVG units per bar slot
BAR = 8     # bar width inside its slot


def bucket_label(bucket, group, fmt):
    """"18 Jun 2020 13:00" (hour), "18 Jun 2020" (day), "1 Jun 2020 – 7 Jun 2020" (week,
    month)."""
    if group == "hour":
        return f"{fmt.day(bucket.day)} {fmt.hour(bucket.hour)}"
    if group == "day":
        return fmt.day(bucket.day)
    return f"{fmt.day(bucket.day)} – {fmt.day(bucket.last_day)}"


def bars(buckets, group, fmt, label, height=60, css="chart"):
    """An SVG bar chart of ``buckets`` (widgets.Bucket), scaled to its largest value, as
    Markup for a template."""
    top = max((b.value for b in buckets), default=0)
    width = max(len(buckets), 1) * UNIT
    label = escape(label)
    parts = [f'<svg class="{escape(css)}" viewBox="0 0 {width} {height}" '
             f'preserveAspectRatio="none" role="img" aria-label="{label}"><title>{label}</title>']
    for n, bucket in enumerate(buckets):
        if bucket.future:
            tip = "in the future"
        else:
            tip = f"{fmt.num(bucket.value)} visitor{'' if bucket.value == 1 else 's'}"
        title = escape(f"{bucket_label(bucket, group, fmt)}: {tip}")
        parts.append(f'<g class="bucket{" future" if bucket.future else ""}"><title>{title}'
                     f'</title><rect class="hit" x="{n * UNIT}" y="0" width="{UNIT}" '
                     f'height="{height}"/>')
        size = bucket.value / top * (height - 2) if top else 0
        if size:
            parts.append(f'<rect class="bar" x="{n * UNIT + 1}" y="{height - size:.2f}" '
                         f'width="{BAR}" height="{size:.2f}"/>')
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))


def share(count, total):
    """The thin bar under a bar-list row: ``count`` as a share of ``total``."""
    width = min(count / total * 100, 100) if total else 0
    return Markup('<svg class="share" viewBox="0 0 100 4" preserveAspectRatio="none" '
                  f'aria-hidden="true"><rect width="{width:.2f}" height="4"/></svg>')
