"""UI pages for administrators: list, create, edit and remove users."""
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from app import accounts
from app.exceptions import ValidationError
from app.extensions import db
from app.models import User
from app.ui.access import role_required, security_headers
from app.ui.forms import EmptyForm, UserEditForm, UserForm
from app.ui.pages import form_errors

bp = Blueprint("users", __name__, url_prefix="/users")
bp.after_request(security_headers)


def _may_manage(target_role):
    """Admins manage users up to admin; only superusers grant or manage superusers."""
    return current_user.role == "*" or target_role != "*"


@bp.route("")
@role_required("a")
def index():
    users = db.session.scalars(select(User).order_by(User.username)).all()
    return render_template("users/index.html", users=users, form=UserForm(),
                           delete_form=EmptyForm())


@bp.route("", methods=["POST"])
@role_required("a")
def create():
    form = UserForm()
    if form.validate_on_submit():
        if not _may_manage(form.role.data):
            abort(403, "Only superusers can create superusers.")
        try:
            user = accounts.create_user(form.username.data, form.password.data,
                                        email=form.email.data, role=form.role.data)
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            flash(f"User {user.username} created.", "success")
            return redirect(url_for("users.index"))
    users = db.session.scalars(select(User).order_by(User.username)).all()
    return render_template("users/index.html", users=users, form=form,
                           delete_form=EmptyForm()), 400


@bp.route("/<int:user_id>", methods=["GET", "POST"])
@role_required("a")
def edit(user_id):
    user = db.session.get(User, user_id) or abort(404, "There is no such user.")
    if not _may_manage(user.role):
        abort(403, "Only superusers can change superusers.")
    form = UserEditForm(obj=user)
    if form.validate_on_submit():
        if not _may_manage(form.role.data):
            abort(403, "Only superusers can grant the superuser role.")
        try:
            accounts.update_user(user, role=form.role.data, email=form.email.data)
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            flash(f"User {user.username} saved.", "success")
            return redirect(url_for("users.index"))
    return render_template("users/edit.html", user=user, form=form)


@bp.route("/<int:user_id>/delete", methods=["POST"])
@role_required("a")
def delete(user_id):
    user = db.session.get(User, user_id) or abort(404, "There is no such user.")
    if not _may_manage(user.role):
        abort(403, "Only superusers can remove superusers.")
    if user.id == current_user.id:
        flash("You cannot remove yourself.", "error")
    elif EmptyForm().validate_on_submit():
        try:
            accounts.delete_user(user)
        except ValidationError as exc:
            flash(str(exc), "error")
        else:
            flash(f"User {user.username} removed.", "success")
    return redirect(url_for("users.index"))
