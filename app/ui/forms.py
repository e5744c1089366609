"""WTForms for the UI. Every form carries a CSRF token (Flask-WTF)."""
import re

from flask_wtf import FlaskForm
from wtforms import (BooleanField, EmailField, IntegerField, PasswordField, RadioField,
                     SelectField, SelectMultipleField, StringField, TextAreaField)
from wtforms.validators import (EqualTo, InputRequired, Length, NumberRange, Optional,
                                ValidationError)
from wtforms.widgets import CheckboxInput, ListWidget

from app.accounts import MIN_PASSWORD
from app.models import COLLECT_LABELS, IP_MODES, PERMISSION_LABELS, ROLES, VISIBILITY, Collect


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


_password = [InputRequired(), Length(min=MIN_PASSWORD, max=1024,
                                     message=f"Use at least {MIN_PASSWORD} characters.")]
_confirm = [InputRequired(), EqualTo("password", message="The passwords do not match.")]


class SetupForm(FlaskForm):
    username = StringField("Username", [InputRequired(), Length(max=100)])
    email = EmailField("Email (optional)", [Optional(), Length(max=255)])
    password = PasswordField("Password", _password)
    confirm = PasswordField("Repeat password", _confirm)
    domain = StringField("Your site's domain", [InputRequired(), Length(max=255)],
                         description="For example example.org — the host name your pages are served on.")
    site_name = StringField("Site name (optional)", [Optional(), Length(max=255)])


class LoginForm(FlaskForm):
    username = StringField("Username", [InputRequired(), Length(max=100)])
    password = PasswordField("Password", [InputRequired(), Length(max=1024)])
    remember = BooleanField("Keep me logged in on this device")


class SiteForm(FlaskForm):
    domain = StringField("Domain", [InputRequired(), Length(max=255)],
                         description="The host name your pages are served on, e.g. example.org.")
    name = StringField("Name", [Optional(), Length(max=255)])
    link_domain = StringField("Link domain", [Optional(), Length(max=255)],
                              description="Optional: the site linked from the dashboard; "
                                          "referrers from it are not listed as top referrers.")


class SiteSettingsForm(SiteForm):
    collect = MultiCheckboxField("Collect", coerce=int,
                                 choices=[(int(flag), label) for flag, label in COLLECT_LABELS.items()])
    ip_mode = RadioField("Visitor IP addresses", choices=list(IP_MODES.items()),
                         description="What Ibex stores of a visitor's IP address. Sessions never "
                                     "need it; the Basic API's /api/stats reports what is stored.")
    ignore_ips = TextAreaField("Ignored IPs", [Optional(), Length(max=20000)],
                               description="One IP address or CIDR range (e.g. 10.0.0.0/8) per line "
                                           "or separated by commas. Their pageviews are not counted.")
    data_retention = IntegerField("Data retention (days)", [InputRequired(), NumberRange(min=0, max=1825)],
                                  description="0 keeps data forever; otherwise 31 to 1825 days.")
    public = RadioField("Dashboard visibility", choices=list(VISIBILITY.items()))
    secret = StringField("Secret for the link", [Length(max=40)],
                         description="8–40 letters and digits; needed for a secret link.")
    dnt = BooleanField("Honour Do-Not-Track (DNT and Sec-GPC headers)")
    allow_counter = BooleanField("Allow the public visitor counter (/counter/…)")
    allow_embed = TextAreaField("Pages allowed to embed the dashboard", [Optional(), Length(max=5000)],
                                description="Origins such as https://blog.example, one per line "
                                            "or separated by commas; only these may show the "
                                            "embeddable dashboard (?hideui=1) in a frame.")
    collect_regions = StringField("Collect regions only for these countries", [Optional()],
                                  description="ISO country codes, comma-separated; empty = all countries.")

    def validate_allow_embed(self, field):
        from app import site_settings
        from app.exceptions import ValidationError as InvalidSettings
        try:
            site_settings.validate({"allow_embed": split_list(field.data)})
        except InvalidSettings as exc:
            message = "; ".join(exc.errors.get("settings.allow_embed", ()))
            if message:
                raise ValidationError(f"Each entry {message} (e.g. https://blog.example); "
                                      "* is not allowed.") from None

    def validate_data_retention(self, field):
        if field.data and field.data < 31:
            raise ValidationError("Use 0 (keep forever) or at least 31 days.")

    def validate_secret(self, field):
        # No Optional() on this field: it would end validation of an empty secret before this
        # check, and a secret link would be saved without a secret.
        value = field.data or ""
        if (value or self.public.data == "secret") and not (len(value) >= 8 and value.isalnum()):
            raise ValidationError("A secret link needs 8–40 letters and digits.")

    def collect_bits(self):
        bits = sum(set(self.collect.data or [])) or int(Collect.NOTHING)
        if bits & Collect.LOCATION_REGION:
            bits |= Collect.LOCATION
        return bits


class UserForm(FlaskForm):
    username = StringField("Username", [InputRequired(), Length(max=100)])
    email = EmailField("Email (optional)", [Optional(), Length(max=255)])
    role = SelectField("Role", choices=[(key, f"{label} ({key})") for key, label in ROLES.items()])
    password = PasswordField("Password", _password)


class UserEditForm(FlaskForm):
    email = EmailField("Email (optional)", [Optional(), Length(max=255)])
    role = SelectField("Role", choices=[(key, f"{label} ({key})") for key, label in ROLES.items()])


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", [InputRequired(), Length(max=1024)])
    password = PasswordField("New password", _password)
    confirm = PasswordField("Repeat new password", _confirm)


class TokenForm(FlaskForm):
    name = StringField("Name", [InputRequired(), Length(max=255)])
    permissions = MultiCheckboxField("Permissions", choices=list(PERMISSION_LABELS.items()),
                                     validators=[InputRequired("Select at least one permission.")])
    all_sites = BooleanField("All sites, including sites created later", default=True)
    sites = MultiCheckboxField("Only these sites", coerce=int, choices=[])

    def validate_sites(self, field):
        if not self.all_sites.data and not field.data:
            raise ValidationError("Select at least one site, or all sites.")


class EmptyForm(FlaskForm):
    """A form with nothing but its CSRF token, for POST buttons (logout, revoke, delete)."""


NUMBER_FORMATS = [(8239, "1 234 567 (thin space)"), (44, "1,234,567"), (46, "1.234.567"),
                  (39, "1'234'567"), (0, "1234567")]
THEMES = [("", "Follow the system"), ("light", "Light"), ("dark", "Dark")]


class DisplaySettingsForm(FlaskForm):
    """The user's dashboard settings; dashboard_settings_form() adds a show/position pair per
    widget."""
    timezone = SelectField("Time zone", choices=[], validate_choice=True)
    sunday_starts_week = BooleanField("Weeks start on Sunday (otherwise Monday)")
    twenty_four_hours = BooleanField("24-hour clock")
    number_format = SelectField("Number format", coerce=int, choices=NUMBER_FORMATS)
    theme = RadioField("Theme", choices=THEMES)


def dashboard_settings_form(widget_titles, zones, **kwargs):
    """A DisplaySettingsForm with ``show_<key>`` and ``position_<key>`` for each widget
    (``widget_titles``: key → title, in registry order) and the time zones as choices."""
    class Form(DisplaySettingsForm):
        pass
    for key, title in widget_titles.items():
        setattr(Form, f"show_{key}", BooleanField(f"Show {title}"))
        setattr(Form, f"position_{key}", IntegerField(
            f"Position of {title}", [InputRequired(), NumberRange(min=1, max=99)]))
    form = Form(**kwargs)
    form.timezone.choices = [(zone, zone) for zone in zones]
    return form


def split_list(text):
    """Entries of a list typed into a text field: separated by commas or white space."""
    return [item for item in re.split(r"[\s,]+", text or "") if item]
