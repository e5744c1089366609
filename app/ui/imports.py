"""UI pages for imports into a site: upload a GoatCounter CSV export, watch the import through
a self-polling HTMX row, read its summary (or the line and column that stopped it)."""
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from app.extensions import db
from app.jobs import imports
from app.jobs.goatcounter_csv import BadRow
from app.models import Import, Site
from app.ui.access import role_required, security_headers

bp = Blueprint("imports", __name__, url_prefix="/sites/<int:site_id>/imports")
bp.after_request(security_headers)


class ImportForm(FlaskForm):
    file = FileField("GoatCounter CSV export", [FileRequired("Choose a file to import.")],
                     description="A .csv.gz or .csv file from GoatCounter's (or Ibex's) CSV "
                                 "export, format 1 or 2. Rows imported before are skipped.")


def _site_or_404(site_id):
    site = db.session.get(Site, site_id)
    if site is None or not site.active:
        abort(404, "There is no such site.")
    return site


def row_context(site, record):
    return {"site": site, "record": record, "state": imports.job_state(record)}


@bp.route("", methods=["GET", "POST"])
@role_required("a")
def index(site_id):
    site = _site_or_404(site_id)
    form = ImportForm()
    if form.validate_on_submit():
        upload = form.file.data
        try:
            record = imports.save_upload(site, upload.stream, upload.filename, current_user.id)
        except BadRow as exc:
            form.file.errors = [exc.message]
        else:
            imports.start_import(record)
            flash("The file was uploaded; its import is listed below.", "success")
            return redirect(url_for("imports.index", site_id=site.id))
    rows = [row_context(site, record) for record in imports.recent_imports(site.id)]
    return render_template("imports/index.html", site=site, form=form, rows=rows)


@bp.route("/<int:import_id>/row")
@role_required("a")
def row(site_id, import_id):
    """The fragment of one import; it polls itself while the import runs."""
    site = _site_or_404(site_id)
    record = db.session.get(Import, import_id)
    if record is None or record.site_id != site.id:
        abort(404, "There is no such import.")
    return render_template("imports/_row.html", **row_context(site, record))
