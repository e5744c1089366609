"""GoatCounter export views (thin, spec §5.3–5.5): start an export, read its record, download
its file. Permission ``export``; exports are scoped to the addressed site."""
from flask import g, jsonify, send_file
from marshmallow import Schema, fields, post_dump

from app.api.goatcounter.context import token_required
from app.api.goatcounter.decoding import ApiError, json_args
from app.api.goatcounter.schemas import Int, Time
from app.exceptions import ValidationError
from app.extensions import db
from app.jobs import exports
from app.models import Export, Site


class ExportRequestSchema(Schema):
    format = fields.String(allow_none=True)
    start_from_hit_id = Int(allow_none=True)
    start_from_day = Time(allow_none=True)
    # Read-only fields of the Export object are accepted and ignored (spec §4.4).
    id = fields.Raw(load_only=True)
    site_id = fields.Raw(load_only=True)
    last_hit_id = fields.Raw(load_only=True)
    path = fields.Raw(load_only=True)
    created_at = fields.Raw(load_only=True)
    finished_at = fields.Raw(load_only=True)
    num_rows = fields.Raw(load_only=True)
    size = fields.Raw(load_only=True)
    hash = fields.Raw(load_only=True)
    error = fields.Raw(load_only=True)


class ExportSchema(Schema):
    """The Export object; start_from_hit_id and start_from_day are left out when unset."""

    class Meta:
        ordered = True

    id = fields.Integer()
    site_id = fields.Integer()
    format = fields.String()
    start_from_hit_id = fields.Integer()
    last_hit_id = fields.Integer(allow_none=True)
    start_from_day = Time(allow_none=True)
    path = fields.String()
    created_at = Time()
    finished_at = Time(allow_none=True)
    num_rows = fields.Integer(allow_none=True)
    size = fields.String(allow_none=True)
    hash = fields.String(allow_none=True)
    error = fields.String(allow_none=True)

    @post_dump
    def _omit_unset(self, data, **kwargs):
        if not data.get("start_from_hit_id"):
            data.pop("start_from_hit_id", None)
        if data.get("start_from_day") is None:
            data.pop("start_from_day", None)
        return data


def _site():
    """The addressed site (authorised by token_required) as a Site row."""
    return db.session.get(Site, g.site.id)


def _export(site, export_id):
    """The export ``export_id`` (a path segment) of ``site``; 400 unless a 32-bit integer,
    404 when it is another site's or absent."""
    try:
        number = int(export_id)
    except ValueError:
        number = None
    if number is None or not -2**31 <= number < 2**31:
        raise ValidationError.single("id", "must be a whole number")
    export = db.session.get(Export, number)
    if export is None or export.site_id != site.id:
        raise ApiError(404, "not found")
    return export


@token_required("export")
def create():
    site = _site()
    args = json_args(ExportRequestSchema)
    try:
        export = exports.start_export(site, g.api_token.user_id, args.get("format"),
                                      args.get("start_from_hit_id"), args.get("start_from_day"))
    except exports.InvalidExport as exc:
        raise ApiError(400, exc.message) from None
    return jsonify(ExportSchema().dump(export)), 202


@token_required("export")
def show(export_id):
    return jsonify(ExportSchema().dump(_export(_site(), export_id)))


@token_required("export")
def download(export_id):
    site = _site()
    export = _export(site, export_id)
    if export.finished_at is None:
        return jsonify(error="still being generated"), 202
    if exports.expired(export):
        raise ApiError(400, "exports are kept for 24 hours; this export file has been deleted")
    response = send_file(exports.file_path(export), mimetype="application/gzip", max_age=0)
    response.headers["Content-Disposition"] = \
        f'attachment; filename="{exports.download_name(export, site)}"'
    return response


def register(bp):
    bp.add_url_rule("/export", "export_create", create, methods=["POST"])
    bp.add_url_rule("/export/<export_id>", "export_show", show, methods=["GET"])
    bp.add_url_rule("/export/<export_id>/download", "export_download", download, methods=["GET"])
