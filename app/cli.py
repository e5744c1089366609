"""Command-line interface: flask users|sites|tokens|worker|rollups|import|jobs|doctor. Output
formats here are stable; other tooling parses them."""
import signal
import sys
import threading

import click
from flask.cli import AppGroup
from sqlalchemy import select

from app import accounts
from app.clock import rfc3339
from app.exceptions import ValidationError
from app.extensions import db
from app.models import ROLES, ApiToken, Site, User

users_cli = AppGroup("users", help="Manage users.")
rollups_cli = AppGroup("rollups", help="Maintain the statistics rollups.")
sites_cli = AppGroup("sites", help="Manage sites.")
tokens_cli = AppGroup("tokens", help="Manage API tokens.")


def register(app):
    from app.jobs.cli import jobs_cli
    for group in (users_cli, sites_cli, tokens_cli, rollups_cli, jobs_cli):
        app.cli.add_command(group)
    app.cli.add_command(worker)
    app.cli.add_command(import_command)
    app.cli.add_command(doctor_command)


@click.command("worker")
@click.option("--jobs/--no-jobs", default=True, show_default=True,
              help="Also run RQ jobs (exports, imports) and the periodic schedule.")
@click.option("--persist/--no-persist", default=True, show_default=True,
              help="Persist hits from the Redis buffer.")
def worker(jobs, persist):
    """Run the persister: move hits from the Redis buffer into the database (production),
    and the background jobs (exports, imports, periodic maintenance) from the RQ queue.
    Several workers may run; they share the buffer and the queue. SIGTERM/SIGINT stop after
    the current batch and job; a batch of a worker that died is taken over by another."""
    from flask import current_app

    from app.ingest import ingest
    runtime = ingest()
    if runtime.embedded:
        _fail("REDIS_URL is not set: in the embedded default the web process persists hits "
              "and runs jobs itself; `flask worker` is for production (see README).")
    if not (jobs or persist):
        _fail("--no-jobs and --no-persist leave nothing to do")
    # Two threads take turns: one writes a batch, the other prepares the next. A short GIL
    # switch interval hands the GIL back to the writer as soon as the database answers.
    sys.setswitchinterval(0.0005)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    def ready():
        if persist:
            click.echo(f"ibex worker: persisting every {runtime.interval:g} s or "
                       f"{runtime.batch_size} hits; backlog {runtime.buffer.backlog()}")
        if jobs:
            from app.jobs.worker import queue_name
            click.echo(f"ibex worker: running jobs from queue {queue_name(current_app)}")
    if not jobs:
        ready()
        runtime.run(stop)
    else:
        from app.jobs import worker as job_worker
        persister = None
        if persist:
            persister = threading.Thread(target=runtime.run, args=(stop,), name="ibex-persist")
            persister.start()
        try:
            job_worker.run(current_app._get_current_object(), stop, before=ready)
        finally:
            stop.set()
            if persister is not None:
                persister.join()
    click.echo("ibex worker: stopped")


@click.command("doctor")
def doctor_command():
    """Check the configuration and the services it names (secret key, database and migrations,
    proxy hops, cookies, GeoIP database, Redis persistence, writable directories) and print
    what to fix: one OK/WARN/FAIL line per check. Exit status 1 when any check fails."""
    import os

    from flask import current_app

    from app import doctor
    results = doctor.run(current_app._get_current_object(),
                         production=os.environ.get("IBEX_CONFIG") == "production")
    for line in doctor.report(results):
        click.echo(line)
    if doctor.failed(results):
        sys.exit(1)


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--site", "site_id", type=int, required=True, help="Site id to import into.")
def import_command(file, site_id):
    """Import a GoatCounter CSV export (format 1 or 2, gzipped or plain) into a site, in this
    process, then rebuild the site's rollups. Rows imported before are skipped."""
    from app.jobs import imports
    from app.jobs.goatcounter_csv import BadRow
    from app.jobs.runner import run_now
    site = db.session.get(Site, site_id)
    if site is None or not site.active:
        _fail(f"no site {site_id}")
    record = imports.local_file(site, file)

    def report(meta):
        total = meta.get("total")
        click.echo(f"  {meta.get('phase', '')}: {meta.get('done', 0)}"
                   + (f" of {total}" if total else "") + " rows", err=True)
    try:
        run_now(imports.import_hits, record.id, listener=report)
    except BadRow as exc:
        _fail(f"{file}: {exc}")
    db.session.rollback()  # the job committed in a session of its own
    record = db.session.get(imports.Import, record.id)
    click.echo(f"imported {record.num_imported} of {record.num_rows} rows into site {site_id} "
               f"({record.num_skipped} skipped: already imported or bots)")


def _fail(exc):
    raise click.ClickException(str(exc))


@users_cli.command("create")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="At least 8 characters.")
@click.option("--email", default=None)
@click.option("--role", type=click.Choice(list(ROLES)), default="a", show_default=True,
              help="r read-only, s settings, a admin, * superuser.")
def users_create(username, password, email, role):
    """Create a user."""
    try:
        user = accounts.create_user(username, password, email=email, role=role)
    except ValidationError as exc:
        _fail(exc)
    click.echo(f"id: {user.id}")
    click.echo(f"username: {user.username}")
    click.echo(f"role: {user.role}")


@users_cli.command("list")
def users_list():
    """List users."""
    for user in db.session.scalars(select(User).order_by(User.id)):
        click.echo(f"{user.id}\t{user.username}\t{user.role}\t{user.email or ''}")


@users_cli.command("password")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def users_password(username, password):
    """Set a user's password (ends their login sessions)."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        _fail(f"no user {username!r}")
    try:
        accounts.set_password(user, password)
    except ValidationError as exc:
        _fail(exc)
    click.echo("password changed")


@sites_cli.command("create")
@click.argument("domain")
@click.option("--name", default=None, help="Display name (default: the domain).")
def sites_create(domain, name):
    """Create a site; prints its id, code and uuid."""
    try:
        site = accounts.create_site(domain, name=name)
    except ValidationError as exc:
        _fail(exc)
    click.echo(f"id: {site.id}")
    click.echo(f"code: {site.code}")
    click.echo(f"uuid: {site.uuid}")


@sites_cli.command("list")
def sites_list():
    """List active sites: id, domain, code, uuid, name."""
    for site in accounts.active_sites():
        click.echo(f"{site.id}\t{site.cname or ''}\t{site.code}\t{site.uuid}\t{site.name}")


@tokens_cli.command("create")
@click.option("--user", "username", required=True, help="Owner (must be an admin).")
@click.option("--name", required=True)
@click.option("--permissions", default="all", show_default=True,
              help="Comma list of count,export,site-read,site-create,site-update,stats, or all.")
@click.option("--site", "site_ids", type=int, multiple=True,
              help="Site id the token may use (repeatable; default: all sites).")
def tokens_create(username, name, permissions, site_ids):
    """Create an API token; the secret is printed alone on the last line, and only once."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        _fail(f"no user {username!r}")
    try:
        bits = accounts.permission_bits(permissions.split(","))
        token, secret = accounts.create_token(user, name, bits, list(site_ids) or None)
    except ValidationError as exc:
        _fail(exc)
    click.echo(f"id: {token.id}")
    click.echo(f"permissions: {','.join(token.permission_names)}")
    click.echo(secret)


@tokens_cli.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include revoked tokens.")
def tokens_list(show_all):
    """List tokens: id, name, user, permissions, sites, prefix, created, last used, revoked."""
    query = select(ApiToken).order_by(ApiToken.id)
    if not show_all:
        query = query.where(ApiToken.revoked_at.is_(None))
    for token in db.session.scalars(query):
        sites = "all" if -1 in token.sites else ",".join(map(str, token.sites))
        click.echo("\t".join([
            str(token.id), token.name, token.user.username, ",".join(token.permission_names),
            sites, token.prefix + "…", rfc3339(token.created_at),
            rfc3339(token.last_used_at) or "never", rfc3339(token.revoked_at) or "active"]))


@tokens_cli.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id):
    """Revoke a token; it stops working at once."""
    token = db.session.get(ApiToken, token_id)
    if token is None:
        _fail(f"no token {token_id}")
    accounts.revoke_token(token)
    click.echo(f"revoked {token.id}")


__all__ = ["register"]


@rollups_cli.command("rebuild")
@click.option("--site", "site_id", type=int, required=True, help="Site id.")
@click.option("--from", "since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="First UTC day to rebuild; its whole month is rebuilt (default: all of the "
                   "site's history).")
def rollups_rebuild(site_id, since):
    """Recompute a site's rollups and visits from its raw hits (after imports or repairs)."""
    from app.ingest.rollups import rebuild
    if db.session.get(Site, site_id) is None:
        _fail(f"no site {site_id}")
    total = rebuild(site_id, since.date() if since else None,
                    progress=lambda n: click.echo(f"  {n} hits", err=True))
    click.echo(f"rebuilt the rollups of site {site_id} from {total} hits")
