"""Account services: users, sites, API tokens, ignored IPs and first-run setup. The CLI, the UI
and the API families all call these; they take explicit arguments and raise ValidationError."""
import re
import secrets

from flask import current_app
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from app.auth import hash_password
from app.clock import utcnow
from app.exceptions import AlreadyDone, ValidationError
from app.extensions import db
from app.models import (ALL_PERMISSIONS, ALL_SITES, PERMISSIONS, ROLES, ApiToken, AppState,
                        IgnoredIp, Site, User, default_site_settings)
from app.netaddr import parse_network

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,99}$")
LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
MIN_PASSWORD = 8
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _sites_changed():
    """Sites or ignore lists change with the session's next commit: this process's site
    directory then reloads at once (other processes within SITE_CACHE_SECONDS)."""
    db.session.info["ibex_sites_changed"] = True


@event.listens_for(Session, "after_commit")
def _reload_sites(session):
    if session.info.pop("ibex_sites_changed", False):
        ingest = current_app.extensions.get("ingest")
        if ingest is not None:
            ingest.sites.invalidate()


@event.listens_for(Session, "after_rollback")
def _forget_site_changes(session):
    session.info.pop("ibex_sites_changed", None)


# --- users -----------------------------------------------------------------------------------

def validate_password(password, field="password"):
    if len(password or "") < MIN_PASSWORD:
        raise ValidationError.single(field, f"must be at least {MIN_PASSWORD} characters")


def create_user(username, password, email=None, role="a"):
    """Create a user with an argon2-hashed password. Raises ValidationError."""
    username = (username or "").strip()
    errors = {}
    if not USERNAME_RE.match(username):
        errors["username"] = ["must be 1–100 letters, digits or _ . @ + - characters"]
    elif db.session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        errors["username"] = ["already exists"]
    if role not in ROLES:
        errors["role"] = [f"must be one of {', '.join(ROLES)}"]
    if len(password or "") < MIN_PASSWORD:
        errors["password"] = [f"must be at least {MIN_PASSWORD} characters"]
    if email and ("@" not in email or len(email) > 255):
        errors["email"] = ["must be a valid email address"]
    if errors:
        raise ValidationError(errors)
    user = User(username=username, email=email or None, role=role,
                password_hash=hash_password(password))
    db.session.add(user)
    _commit_unique("username")
    return user


def set_password(user, password):
    """Change a user's password; this ends every existing login session of that user."""
    validate_password(password)
    user.password_hash = hash_password(password)
    user.session_token = secrets.token_urlsafe(32)
    user.updated_at = utcnow()
    db.session.commit()


def update_user(user, role=None, email=None):
    if role is not None:
        if role not in ROLES:
            raise ValidationError.single("role", f"must be one of {', '.join(ROLES)}")
        if user.role == "*" and role != "*" and _superuser_count() <= 1:
            raise ValidationError.single("role", "the last superuser cannot be demoted")
        user.role = role
    if email is not None:
        user.email = email or None
    user.updated_at = utcnow()
    db.session.commit()


def delete_user(user):
    if user.role == "*" and _superuser_count() <= 1:
        raise ValidationError.single("user", "the last superuser cannot be removed")
    db.session.delete(user)
    db.session.commit()


def _superuser_count():
    return db.session.scalar(select(func.count()).select_from(User).where(User.role == "*"))


def user_count():
    return db.session.scalar(select(func.count()).select_from(User))


# --- sites -----------------------------------------------------------------------------------

def normalise_domain(text):
    """A bare lower-case host name from user input ('https://WWW.Example.org:8080/x' →
    'www.example.org'). Raises ValidationError for anything that is not a host name."""
    value = (text or "").strip().lower()
    value = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value)
    value = value.split("/", 1)[0].split("?", 1)[0]
    if value.startswith("[") or value.count(":") > 1:
        raise ValidationError.single("domain", "must be a valid domain")
    value = value.split(":", 1)[0].rstrip(".")
    try:
        value = value.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValidationError.single("domain", "must be a valid domain") from None
    labels = value.split(".")
    if not value or len(value) > 253 or not all(LABEL_RE.match(label) for label in labels):
        raise ValidationError.single("domain", "must be a valid domain")
    return value


def find_site_by_domain(domain):
    """The active site whose cname is ``domain`` (case-insensitive), or None."""
    return db.session.scalar(select(Site).where(
        Site.cname == domain.lower(), Site.state == "a"))


def create_site(domain, name=None, owner=None, link_domain="", parent=None, settings=None,
                ignore_ips=()):
    """Create an active site for ``domain``; code, uuid and default settings are generated.
    ``parent``: the account site of a child site; ``settings`` override the defaults;
    ``ignore_ips``: already validated IPs or ranges."""
    cname = normalise_domain(domain)
    if db.session.scalar(select(Site.id).where(Site.cname == cname)):
        raise ValidationError.single("domain", "already exists")
    now = utcnow()
    site = Site(cname=cname, cname_setup_at=now, name=(name or "").strip()[:255],
                link_domain=_link_domain(link_domain), owner_id=owner.id if owner else None,
                parent_id=parent.id if parent else None,
                settings={**default_site_settings(), **(settings or {})}, created_at=now,
                first_hit_at=now)
    if ignore_ips:
        set_ignored_ips(site, ignore_ips, commit=False)
    db.session.add(site)
    _sites_changed()
    _commit_unique("domain")
    return site


def find_or_create_site(domain, owner=None):
    """The active site for ``domain`` (normalised first), created when there is none; also
    when a concurrent request creates it first. Returns (site, created)."""
    cname = normalise_domain(domain)
    site = find_site_by_domain(cname)
    if site is not None:
        return site, False
    try:
        return create_site(cname, owner=owner), True
    except ValidationError:
        site = find_site_by_domain(cname)
        if site is None:
            raise
        return site, False


def update_site(site, *, domain=None, name=None, link_domain=None, settings=None):
    """Change a site's domain, name, link domain and settings (merged into the current ones)."""
    if domain is not None:
        cname = normalise_domain(domain)
        taken = db.session.scalar(select(Site.id).where(Site.cname == cname, Site.id != site.id))
        if taken:
            raise ValidationError.single("domain", "already exists")
        if cname != site.cname:
            site.cname, site.cname_setup_at = cname, utcnow()
    if name is not None:
        site.name = name.strip()[:255]
    if link_domain is not None:
        site.link_domain = _link_domain(link_domain)
    if settings is not None:
        site.settings = {**default_site_settings(), **site.settings, **settings}
    site.updated_at = utcnow()
    _sites_changed()
    _commit_unique("domain")
    return site


def delete_site(site):
    """Soft-delete: the site stops counting and disappears; its data stays until purged.
    The domain is released so it can be registered again."""
    site.state = "d"
    site.cname = None
    site.updated_at = utcnow()
    _sites_changed()
    db.session.commit()


def active_sites():
    return db.session.scalars(select(Site).where(Site.state == "a").order_by(Site.id)).all()


def _link_domain(value):
    return (value or "").strip().rstrip("/")[:255]


# --- ignored IPs -----------------------------------------------------------------------------

def set_ignored_ips(site, entries, commit=True):
    """Replace a site's ignore list with ``entries`` (IPs or CIDR ranges, as text).
    Raises ValidationError naming the first bad entry; nothing changes then. With
    commit=False the caller commits, so the change can share a transaction with others."""
    networks = []
    for entry in entries:
        try:
            network = str(parse_network(entry))
        except ValueError as exc:
            raise ValidationError.single("ignore_ips", f"{entry.strip()!r}: {exc}") from None
        if network not in networks:
            networks.append(network)
    # Keep the rows of networks that stay: a new row for the same network would be inserted
    # before the old one is deleted and break the (site_id, network) unique constraint.
    kept = {entry.network: entry for entry in site.ignored_ips}
    site.ignored_ips = [kept.get(n) or IgnoredIp(network=n, created_at=utcnow())
                        for n in networks]
    _sites_changed()
    if commit:
        db.session.commit()


def add_global_ignored_ip(entry):
    """Add an IP or range to the server-wide ignore list (idempotent). Returns its network."""
    try:
        network = str(parse_network(entry))
    except ValueError as exc:
        raise ValidationError.single("ip", str(exc)) from None
    exists = db.session.scalar(select(IgnoredIp.id).where(
        IgnoredIp.site_id.is_(None), IgnoredIp.network == network))
    if not exists:
        db.session.add(IgnoredIp(site_id=None, network=network, created_at=utcnow()))
        _sites_changed()
        db.session.commit()
    return network


def remove_global_ignored_ip(entry):
    """Remove an IP or range from the server-wide ignore list. Idempotent: an entry that is not
    on the list, or is no IP at all, changes nothing. Returns True when a row was removed."""
    try:
        network = str(parse_network(entry))
    except ValueError:
        return False
    removed = db.session.execute(IgnoredIp.__table__.delete().where(
        IgnoredIp.site_id.is_(None), IgnoredIp.network == network)).rowcount
    if removed:
        _sites_changed()
    db.session.commit()
    return bool(removed)


def global_ignored_ips():
    """The server-wide ignore list (IgnoredIp rows), oldest first."""
    return db.session.scalars(select(IgnoredIp).where(IgnoredIp.site_id.is_(None))
                              .order_by(IgnoredIp.id)).all()


# --- API tokens ------------------------------------------------------------------------------

def new_token_secret():
    """A random secret in GoatCounter's alphabet: 256 random bits written in base 36."""
    number = secrets.randbits(256)
    digits = []
    while number:
        number, rest = divmod(number, 36)
        digits.append(_BASE36[rest])
    return "".join(reversed(digits)).rjust(50, "0")


def permission_bits(names):
    """Bitmask for permission names; 'all' means every permission. Raises ValidationError."""
    names = [name.strip() for name in names if name.strip()]
    if "all" in names:
        return ALL_PERMISSIONS
    unknown = [name for name in names if name not in PERMISSIONS]
    if unknown:
        raise ValidationError.single(
            "permissions", f"unknown: {', '.join(unknown)} (use {', '.join(PERMISSIONS)} or all)")
    bits = sum({PERMISSIONS[name] for name in names})
    if not bits:
        raise ValidationError.single("permissions", "must select at least one")
    return bits


def create_token(user, name, permissions=ALL_PERMISSIONS, sites=None):
    """Create an API token; returns (token, secret). Only the secret's hash is stored, so the
    secret must be shown to the user now and never again."""
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = ["must be set"]
    elif len(name) > 255:
        errors["name"] = ["must be shorter than 255 characters"]
    if not permissions or permissions & ~ALL_PERMISSIONS or permissions == 1:
        errors["permissions"] = ["must select at least one"]
    sites = list(sites) if sites else [ALL_SITES]
    known = set(db.session.scalars(select(Site.id).where(Site.id.in_(sites))))
    if any(site_id != ALL_SITES and site_id not in known for site_id in sites):
        errors["sites"] = ["no such site"]
    if not user.is_admin:
        errors["user"] = ["only admins can create and use API keys"]
    if errors:
        raise ValidationError(errors)
    secret = new_token_secret()
    token = ApiToken(user_id=user.id, name=name, permissions=permissions, sites=sites,
                     secret_hash=ApiToken.hash_secret(secret), prefix=secret[:6],
                     created_at=utcnow())
    db.session.add(token)
    db.session.commit()
    return token, secret


BOOTSTRAP_TOKEN = "bootstrap-token"


def active_token_count():
    return db.session.scalar(select(func.count()).select_from(ApiToken)
                             .where(ApiToken.revoked_at.is_(None)))


def bootstrap_owner():
    """Who owns a token issued without credentials: the first superuser, else the first admin
    (None before the first-run setup)."""
    for roles in (("*",), ("a",)):
        user = db.session.scalar(select(User).where(User.role.in_(roles)).order_by(User.id))
        if user is not None:
            return user
    return None


def create_bootstrap_token(name):
    """Issue the installation's one credential-less token (all permissions, all sites): only
    while no active token exists at all, and only once ever (claimed in AppState in the same
    transaction, so of two concurrent first calls one wins). Returns (token, secret); raises
    AlreadyDone, or ValidationError when no admin exists yet to own it."""
    for attempt in range(3):
        if active_token_count():
            raise AlreadyDone(BOOTSTRAP_TOKEN)
        owner = bootstrap_owner()
        if owner is None:
            raise ValidationError.single("user", "no admin user exists yet")
        try:
            claim_once(BOOTSTRAP_TOKEN, {"user_id": owner.id})
            return create_token(owner, name)
        except OperationalError:
            # SQLite: a concurrent writer committed after this transaction began reading;
            # start again from a fresh snapshot (which then sees that writer's token).
            db.session.rollback()
            if attempt == 2:
                raise
        except Exception:
            db.session.rollback()
            raise
    raise AlreadyDone(BOOTSTRAP_TOKEN)


def active_tokens(user):
    """A user's unrevoked tokens, oldest first."""
    return db.session.scalars(select(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).order_by(ApiToken.id)).all()


def active_token(user, token_id):
    """The user's unrevoked token with this id, or None (also for ids no column can hold)."""
    if not 0 < token_id < 2 ** 31:
        return None
    return db.session.scalar(select(ApiToken).where(
        ApiToken.id == token_id, ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)))


def revoke_token(token):
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.commit()


# --- first run -------------------------------------------------------------------------------

def claim_once(key, value=None):
    """Record that the once-only action ``key`` happened, in the current transaction.
    Raises AlreadyDone when it already had (also when a concurrent request won the race)."""
    db.session.add(AppState(key=key, value=value or {}, created_at=utcnow()))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise AlreadyDone(key) from None


def first_run(username, password, email, domain, site_name):
    """Create the first superuser and the first site, once. Raises ValidationError, or
    AlreadyDone when a user already exists."""
    if user_count():
        raise AlreadyDone("setup")
    # Validate everything before claiming, so a typo does not use up the one chance.
    errors = {}
    for field, check in (("password", lambda: validate_password(password)),
                         ("domain", lambda: normalise_domain(domain))):
        try:
            check()
        except ValidationError as exc:
            errors.update(exc.errors)
    if not USERNAME_RE.match((username or "").strip()):
        errors["username"] = ["must be 1–100 letters, digits or _ . @ + - characters"]
    if errors:
        raise ValidationError(errors)
    claim_once("setup")
    try:
        user = create_user(username, password, email=email, role="*")
        create_site(domain, name=site_name, owner=user)
    except Exception:
        db.session.rollback()
        db.session.execute(AppState.__table__.delete().where(AppState.key == "setup"))
        db.session.commit()
        raise
    return user


def _commit_unique(field):
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ValidationError.single(field, "already exists") from None
