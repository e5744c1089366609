"""The user menu's pages: API tokens (create, show the secret once, revoke), password and
the display and dashboard settings."""
from zoneinfo import available_timezones

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required, login_user
from sqlalchemy import select

from app import accounts
from app.auth import verify_password
from app.exceptions import ValidationError
from app.extensions import db
from app.models import ALL_SITES, PERMISSION_LABELS, ApiToken, Site
from app.stats.query import zone_name
from app.ui import widgets
from app.ui.access import role_required, security_headers
from app.ui.forms import EmptyForm, PasswordForm, TokenForm, dashboard_settings_form
from app.ui.pages import form_errors

bp = Blueprint("account", __name__, url_prefix="/user")
bp.after_request(security_headers)


def _token_form():
    form = TokenForm()
    form.sites.choices = [(site.id, site.display_name) for site in accounts.active_sites()]
    return form


def _render_tokens(form, secret=None, new_token=None, status=200):
    tokens = db.session.scalars(select(ApiToken).where(ApiToken.user_id == current_user.id)
                                .order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())).all()
    site_names = {site.id: site.display_name for site in db.session.scalars(select(Site))}
    return render_template("account/tokens.html", form=form, tokens=tokens, secret=secret,
                           new_token=new_token, site_names=site_names, ALL_SITES=ALL_SITES,
                           labels=PERMISSION_LABELS, revoke_form=EmptyForm()), status


@bp.route("/tokens")
@role_required("a")
def tokens():
    return _render_tokens(_token_form())


@bp.route("/tokens", methods=["POST"])
@role_required("a")
def create_token():
    form = _token_form()
    if form.validate_on_submit():
        try:
            bits = accounts.permission_bits(form.permissions.data)
            sites = None if form.all_sites.data else form.sites.data
            token, secret = accounts.create_token(current_user, form.name.data, bits, sites)
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            # The secret is rendered in this response only; it is never stored or shown again.
            return _render_tokens(_token_form(), secret=secret, new_token=token, status=201)
    return _render_tokens(form, status=400)


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@role_required("a")
def revoke_token(token_id):
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != current_user.id:
        abort(404, "There is no such token.")
    if EmptyForm().validate_on_submit():
        accounts.revoke_token(token)
        flash(f"Token {token.name} revoked; it no longer works.", "success")
    return redirect(url_for("account.tokens"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    form = PasswordForm()
    if form.validate_on_submit():
        if not verify_password(current_user.password_hash, form.current.data):
            form.current.errors = ["That is not your current password."]
        else:
            try:
                accounts.set_password(current_user, form.password.data)
            except ValidationError as exc:
                form_errors(form, exc)
            else:
                login_user(current_user)  # the new session token; other sessions end
                flash("Password changed. Other devices have been logged out.", "success")
                return redirect(url_for("ui.home"))
    return render_template("account/password.html", form=form)


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    """Time zone, week start, clock, number format, theme and the dashboard's widgets (order
    and which are shown), kept in the user's settings (GoatCounter's UserSettings keys)."""
    current = dict(current_user.settings or {})
    form = _settings_form(current)
    if form.validate_on_submit():
        chosen = sorted((getattr(form, f"position_{key}").data, n, key)
                        for n, key in enumerate(widgets.WIDGETS)
                        if getattr(form, f"show_{key}").data)
        saved = {w.key: s for w, s in widgets.layout(current.get("widgets"))}
        current.update(
            timezone="." + form.timezone.data, sunday_starts_week=form.sunday_starts_week.data,
            twenty_four_hours=form.twenty_four_hours.data, number_format=form.number_format.data,
            theme=form.theme.data or "",
            widgets=[{"n": key, "s": saved.get(key) or widgets.settings_for(widgets.get(key), None)}
                     for _pos, _n, key in chosen])
        if not chosen:
            flash("Show at least one widget.", "error")
        else:
            current_user.settings = current
            db.session.commit()
            flash("Settings saved.", "success")
            return redirect(url_for("account.settings"))
    return render_template("account/settings.html", form=form, widgets=widgets.WIDGETS)


def _settings_form(current):
    shown = [w.key for w, _s in widgets.layout(current.get("widgets"))]
    data = {"timezone": zone_name(current.get("timezone")),
            "sunday_starts_week": bool(current.get("sunday_starts_week")),
            "twenty_four_hours": current.get("twenty_four_hours", True) is not False,
            "number_format": current.get("number_format", 8239),
            "theme": current.get("theme") or ""}
    for n, key in enumerate(widgets.WIDGETS):
        data[f"show_{key}"] = key in shown
        data[f"position_{key}"] = shown.index(key) + 1 if key in shown else len(shown) + n + 1
    titles = {key: w.title for key, w in widgets.WIDGETS.items()}
    return dashboard_settings_form(titles, sorted(_ZONES), data=data)


_ZONES = available_timezones() | {"UTC"}
