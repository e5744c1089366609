"""UI pages for a site's exports: start one, watch it through a self-polling HTMX row, download
it, see the recent ones. Admins only: an export holds every pageview of the site."""
from flask import Blueprint, abort, flash, redirect, render_template, send_file, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField
from wtforms.validators import NumberRange, Optional

from app.extensions import db
from app.jobs import exports
from app.models import Export, Site
from app.ui.access import role_required, security_headers

bp = Blueprint("exports", __name__, url_prefix="/sites/<int:site_id>/exports")
bp.after_request(security_headers)


class ExportForm(FlaskForm):
    format = RadioField("Format", default="csv", choices=[
        ("csv", "CSV: every pageview (GoatCounter's format 2, gzipped); opens in any spreadsheet"),
        ("json", "JSON: the statistics (GoatCounter's zip of JSON-lines files)")])
    start_from_hit_id = IntegerField(
        "CSV: only pageviews after this id", [Optional(), NumberRange(min=0, max=2**62)],
        description="The “last pageview id” of an earlier export, to continue where it ended. "
                    "Leave empty for everything.")


def _site_or_404(site_id):
    site = db.session.get(Site, site_id)
    if site is None or not site.active:
        abort(404, "There is no such site.")
    return site


def _export_or_404(site, export_id):
    export = db.session.get(Export, export_id)
    if export is None or export.site_id != site.id:
        abort(404, "There is no such export.")
    return export


def row_context(site, export):
    """What _row.html needs: the export, its job state and whether its file is gone."""
    return {"site": site, "export": export, "state": exports.job_state(export),
            "expired": export.finished_at is not None and exports.expired(export)}


@bp.route("", methods=["GET", "POST"])
@role_required("a")
def index(site_id):
    site = _site_or_404(site_id)
    form = ExportForm()
    if form.validate_on_submit():
        csv = form.format.data == "csv"
        try:
            exports.start_export(site, current_user.id, form.format.data,
                                 form.start_from_hit_id.data if csv else None)
        except exports.InvalidExport as exc:
            flash(exc.message, "error")
        else:
            flash("The export has started; it is listed below.", "success")
            return redirect(url_for("exports.index", site_id=site.id))
    rows = [row_context(site, export) for export in exports.recent_exports(site.id)]
    return render_template("exports/index.html", site=site, form=form, rows=rows)


@bp.route("/<int:export_id>/row")
@role_required("a")
def row(site_id, export_id):
    """The fragment of one export; it polls itself while the export runs."""
    site = _site_or_404(site_id)
    return render_template("exports/_row.html", **row_context(site, _export_or_404(site, export_id)))


@bp.route("/<int:export_id>/download")
@role_required("a")
def download(site_id, export_id):
    site = _site_or_404(site_id)
    export = _export_or_404(site, export_id)
    if export.finished_at is None:
        abort(404, "This export is not ready yet.")
    if exports.expired(export):
        abort(404, "Exports are kept for 24 hours; this export file has been deleted.")
    return send_file(exports.file_path(export), mimetype="application/gzip", as_attachment=True,
                     download_name=exports.download_name(export, site), max_age=0)
