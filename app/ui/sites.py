"""UI pages for sites: list, create, settings (collect flags, IP mode, ignore list, retention,
visibility), tracking-code panel and deletion."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required

from app import accounts
from app.exceptions import ValidationError
from app.extensions import db
from app.models import Collect, Site
from app.ui.access import role_required, security_headers
from app.ui.forms import EmptyForm, SiteForm, SiteSettingsForm, split_list
from app.ui.pages import form_errors

bp = Blueprint("sites", __name__, url_prefix="/sites")
bp.after_request(security_headers)


def _site_or_404(site_id):
    site = db.session.get(Site, site_id)
    if site is None or not site.active:
        abort(404, "There is no such site.")
    return site


@bp.route("")
@login_required
def index():
    return render_template("sites/index.html", sites=accounts.active_sites())


@bp.route("/new", methods=["GET", "POST"])
@role_required("a")
def new():
    form = SiteForm()
    if form.validate_on_submit():
        try:
            site = accounts.create_site(form.domain.data, name=form.name.data,
                                        link_domain=form.link_domain.data)
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            flash(f"Site {site.display_name} created.", "success")
            return redirect(url_for("sites.tracking", site_id=site.id))
    return render_template("sites/new.html", form=form)


@bp.route("/<int:site_id>/settings", methods=["GET", "POST"])
@role_required("s")
def settings(site_id):
    site = _site_or_404(site_id)
    form = SiteSettingsForm(obj=None if request.method == "POST" else _form_data(site))
    if form.validate_on_submit():
        try:
            # One transaction: an error in the site fields must not keep a new ignore list.
            accounts.set_ignored_ips(site, split_list(form.ignore_ips.data), commit=False)
            accounts.update_site(site, domain=form.domain.data, name=form.name.data,
                                 link_domain=form.link_domain.data, settings={
                                     "collect": form.collect_bits(),
                                     "ip_mode": form.ip_mode.data,
                                     "data_retention": form.data_retention.data,
                                     "public": form.public.data,
                                     "secret": form.secret.data or "",
                                     "dnt": form.dnt.data,
                                     "allow_counter": form.allow_counter.data,
                                     "allow_embed": split_list(form.allow_embed.data),
                                     "collect_regions": [c.upper() for c in
                                                         split_list(form.collect_regions.data)],
                                 })
        except ValidationError as exc:
            db.session.rollback()
            form_errors(form, exc)
        else:
            flash("Settings saved.", "success")
            return redirect(url_for("sites.settings", site_id=site.id))
    return render_template("sites/settings.html", site=site, form=form, delete_form=EmptyForm())


@bp.route("/<int:site_id>/tracking")
@login_required
def tracking(site_id):
    site = _site_or_404(site_id)
    return render_template("sites/tracking.html", site=site,
                           snippets=tracking_snippets(site, request.url_root.rstrip("/")))


def tracking_snippets(site, base_url):
    """The three script tags, as plain text for the page to show (autoescaped there)."""
    return {
        "goatcounter": f'<script data-goatcounter="{base_url}/count" async '
                       f'src="{base_url}/count.js"></script>',
        "umami": f'<script async defer data-website-id="{site.uuid}" '
                 f'src="{base_url}/umami.js"></script>',
        "basic": f'<script src="{base_url}/track.js" defer></script>',
    }


@bp.route("/<int:site_id>/delete", methods=["POST"])
@role_required("a")
def delete(site_id):
    site = _site_or_404(site_id)
    if EmptyForm().validate_on_submit():
        name = site.display_name
        accounts.delete_site(site)
        flash(f"Site {name} deleted; it no longer counts pageviews.", "success")
    return redirect(url_for("sites.index"))


class _FormData:
    """Current values of a site, shaped for SiteSettingsForm(obj=…)."""

    def __init__(self, **values):
        self.__dict__.update(values)


def _form_data(site):
    collect = site.setting("collect")
    return _FormData(
        domain=site.cname or "", name=site.name, link_domain=site.link_domain,
        collect=[int(flag) for flag in Collect if flag != Collect.NOTHING and collect & flag],
        ip_mode=site.setting("ip_mode"), data_retention=site.setting("data_retention"),
        public=site.setting("public"), secret=site.setting("secret"), dnt=site.setting("dnt"),
        allow_counter=site.setting("allow_counter"),
        allow_embed="\n".join(site.setting("allow_embed")),
        ignore_ips="\n".join(entry.display for entry in site.ignored_ips),
        collect_regions=", ".join(site.setting("collect_regions")))
