"""UI entry pages: home, first-run setup, login and logout."""
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app import accounts
from app.auth import check_credentials
from app.clock import utcnow
from app.exceptions import AlreadyDone, ValidationError
from app.extensions import db, limiter
from app.ui.access import security_headers
from app.ui.forms import EmptyForm, LoginForm, SetupForm

bp = Blueprint("ui", __name__)
bp.after_request(security_headers)


def form_errors(form, exc):
    """Show a service ValidationError on the matching form fields (or as a flash message)."""
    for field, messages in exc.errors.items():
        target = getattr(form, field, None)
        if target is not None and hasattr(target, "errors"):
            target.errors = list(target.errors) + messages
        else:
            for message in messages:
                flash(f"{field}: {message}", "error")


@bp.route("/")
def home():
    if not accounts.user_count():
        return redirect(url_for("ui.setup"))
    if not current_user.is_authenticated:
        return redirect(url_for("ui.login"))
    return render_template("home.html", sites=accounts.active_sites())


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    if accounts.user_count():
        return redirect(url_for("ui.login"))
    form = SetupForm()
    if form.validate_on_submit():
        try:
            user = accounts.first_run(form.username.data, form.password.data, form.email.data,
                                      form.domain.data, form.site_name.data)
        except ValidationError as exc:
            form_errors(form, exc)
        except AlreadyDone:
            flash("Ibex has already been set up. Log in instead.", "error")
            return redirect(url_for("ui.login"))
        else:
            login_user(user)
            flash("Welcome to Ibex. Add the tracking code below to your site.", "success")
            site = accounts.active_sites()[0]
            return redirect(url_for("sites.tracking", site_id=site.id))
    return render_template("setup.html", form=form)


def _login_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda response: response.status_code != 302)
def login():
    if not accounts.user_count():
        return redirect(url_for("ui.setup"))
    if current_user.is_authenticated:
        return redirect(url_for("ui.home"))
    form = LoginForm()
    if form.validate_on_submit():
        user = check_credentials(form.username.data, form.password.data)
        if user is not None:
            login_user(user, remember=form.remember.data)
            user.login_at = utcnow()
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors = ["Wrong username or password."]
        return render_template("login.html", form=form), 401
    return render_template("login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    if EmptyForm().validate_on_submit():
        logout_user()
        flash("You are logged out.", "success")
    return redirect(url_for("ui.login"))


def _safe_next(target):
    """Only same-site relative paths; anything else goes home (no open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") \
                and not target.startswith("//") and "\\" not in target:
            return target
    return url_for("ui.home")
