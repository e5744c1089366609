"""One bad hit never blocks its batch: hits that fail enrichment or that the database refuses
are dropped (and logged) while the rest of the batch is stored."""
import time

from sqlalchemy import func, select, text

from app import accounts
from app.extensions import db as _db
from app.ingest import ingest
from app.ingest.hit_in import HitIn
from app.models import BotHit, Hit, Path, Ref
from tests.conftest import _empty_tables, make_app

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:79.0) Gecko/20100101 Firefox/79.0"


def good(site, path):
    site_id = site if isinstance(site, int) else site.id
    return HitIn(site_id=site_id, path=path, user_agent=FIREFOX, ip="192.0.2.1",
                 created_at=time.time())


def test_a_hit_that_cannot_be_enriched_is_dropped_alone(db, site, store_hits):
    odd = good(site, "/odd")
    odd.created_at = 1e20  # no datetime can hold it
    assert store_hits(good(site, "/a"), odd, good(site, "/b")) == 3
    assert sorted(db.session.scalars(select(Path.path))) == ["/a", "/b"]
    assert db.session.scalar(select(BotHit.reason).where(BotHit.path == "/odd")) == "invalid"


def test_huge_multibyte_paths_and_referrers_are_stored(db, site, store_hits):
    path = "/" + "€" * 2040
    referrer = "https://example.org/" + "ü" * 2000
    store_hits(HitIn(site_id=site.id, path=path, referrer=referrer, user_agent=FIREFOX,
                     ip="192.0.2.1", created_at=time.time()),
               HitIn(site_id=site.id, path=path.upper(), user_agent=FIREFOX, ip="192.0.2.2",
                     created_at=time.time()))
    assert db.session.scalar(select(func.count()).select_from(Hit)) == 2
    [stored] = db.session.scalars(select(Path)).all()  # one path, case-insensitively
    assert stored.path == path and len(stored.path_key) < 300
    assert any(len(ref) > 2000 for ref in db.session.scalars(select(Ref.ref)))


def test_hits_the_database_refuses_do_not_block_the_rest(database_url, tmp_path):
    app = make_app(database_url, tmp_path, SITE_CACHE_SECONDS="3600")
    with app.app_context():
        try:
            kept = accounts.create_site("kept.example").id
            gone = accounts.create_site("gone.example").id
            ingest().sites.snapshot()  # the hot path still knows the site …
            _db.session.execute(text("DELETE FROM sites WHERE id = :id"), {"id": gone})
            _db.session.commit()       # … after it is gone from the database
            ingest().push(good(kept, "/one"), good(gone, "/lost"), good(kept, "/two"))
            assert ingest().flush() == 3
            _db.session.rollback()
            assert sorted(_db.session.scalars(select(Path.path))) == ["/one", "/two"]
            assert ingest().buffer.backlog() == 0
        finally:
            _db.session.remove()
            _empty_tables()
            _db.engine.dispose()


def test_an_unstorable_batch_is_split_not_retried_forever(db, site, app):
    """A wire record no HitIn can be built from (wrong types) is dropped; its neighbours stay."""
    runtime = ingest()
    runtime.buffer.push([good(site, "/a").to_wire(), '[1, {"not": "a path"}, "pageview"]',
                         "not json at all", good(site, "/b").to_wire()])
    assert runtime.flush() == 4
    db.session.rollback()
    assert sorted(db.session.scalars(select(Path.path))) == ["/a", "/b"]
    assert runtime.buffer.backlog() == 0


def test_hits_of_a_site_newer_than_the_workers_snapshot_are_stored(database_url, tmp_path):
    """The web process may know a new site before the persister's snapshot does."""
    app = make_app(database_url, tmp_path, SITE_CACHE_SECONDS="3600")
    with app.app_context():
        try:
            old = accounts.create_site("old.example").id
            ingest().sites.snapshot()           # loaded before the new site exists
            new = accounts.create_site("new.example").id
            ingest().push(good(old, "/old"), good(new, "/new"))
            assert ingest().flush() == 2
            _db.session.rollback()
            assert sorted(_db.session.execute(select(Path.site_id, Path.path))) == [
                (old, "/old"), (new, "/new")]
            assert _db.session.scalar(select(func.count()).select_from(BotHit)) == 0
        finally:
            _db.session.remove()
            _empty_tables()
            _db.engine.dispose()
