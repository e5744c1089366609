"""The persister's drain loop: the next batch is claimed and prepared in a helper thread while
one is written; a failure or a stop hands both batches back, and nothing is lost or counted
twice."""
import threading
from unittest import mock

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.extensions import db as _db
from app.ingest import ingest, persist
from app.ingest.hit_in import HitIn
from app.models import Hit, HitCount, IngestBatch
from tests.conftest import _empty_tables, make_app

T0 = 1_764_500_000  # 2025-11-30 10:53 UTC


@pytest.fixture
def small_batches(database_url, tmp_path):
    app = make_app(database_url, tmp_path, PERSIST_BATCH_SIZE="3")
    with app.app_context():
        from app import accounts
        site = accounts.create_site("drain.example")
        yield app, site.id
        _db.session.remove()
        _empty_tables()
        _db.engine.dispose()


def push(site_id, count):
    ingest().push(*[HitIn(site_id=site_id, path=f"/p{n}", created_at=T0 + n, ip="192.0.2.1",
                          user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:79.0) Gecko/20100101 "
                                     "Firefox/79.0") for n in range(count)])


def stored():
    _db.session.rollback()
    return (_db.session.scalar(select(func.count()).select_from(Hit)),
            _db.session.scalar(select(func.sum(HitCount.pageviews))) or 0,
            _db.session.scalar(select(func.sum(IngestBatch.num_hits))) or 0)


def test_batches_are_prepared_in_the_helper_thread_while_one_is_written(small_batches):
    _app, site_id = small_batches
    push(site_id, 10)
    preparing = []
    real = persist.prepare_batch

    def recording(runtime, batch):
        preparing.append(threading.current_thread().name)
        return real(runtime, batch)

    with mock.patch.object(persist, "prepare_batch", recording):
        assert ingest().flush() == 10
    assert preparing == ["ibex-prepare"] * 4  # batches of 3, 3, 3, 1
    assert stored() == (10, 10, 10)
    assert ingest().buffer.backlog() == 0


def test_a_failed_write_hands_back_the_batch_prepared_ahead(small_batches):
    _app, site_id = small_batches
    push(site_id, 9)
    real, calls = persist.persist_batch, []

    def failing_second(runtime, batch, prepared=None):
        calls.append(batch.id)
        if len(calls) == 2:
            raise OperationalError("INSERT …", {}, ConnectionError("server closed the connection"))
        return real(runtime, batch, prepared)

    with mock.patch.object(persist, "persist_batch", failing_second):
        with pytest.raises(OperationalError):
            ingest().flush()
    assert stored() == (3, 3, 3)
    assert ingest().buffer.backlog() == 6      # the failed batch and the one prepared ahead
    assert ingest().flush() == 6
    assert stored() == (9, 9, 9)
    assert ingest().buffer.backlog() == 0


def test_a_stop_ends_the_drain_after_the_current_batch(small_batches):
    _app, site_id = small_batches
    push(site_id, 9)
    stop = threading.Event()
    real = persist.persist_batch

    def stopping(runtime, batch, prepared=None):
        stop.set()  # e.g. SIGTERM arrives while the first batch is written
        return real(runtime, batch, prepared)

    with mock.patch.object(persist, "persist_batch", stopping):
        assert ingest().drain(stop) == 3
    assert stored() == (3, 3, 3)
    assert ingest().buffer.backlog() == 6
    assert ingest().flush() == 6
    assert stored() == (9, 9, 9)


def test_a_failing_preparation_hands_its_batch_back(small_batches):
    _app, site_id = small_batches
    push(site_id, 3)
    with mock.patch.object(ingest().sessions, "assign", side_effect=ConnectionError("redis gone")):
        with pytest.raises(ConnectionError):
            ingest().flush()
    assert ingest().buffer.backlog() == 3
    assert ingest().flush() == 3
    assert stored() == (3, 3, 3)
