"""A 20-second run of the soak benchmark (bench/soak/run.py): mixed traffic of the three
tracking families, dashboards and the stats APIs through nginx, gunicorn, two flask workers,
PostgreSQL and Redis. Guards what the 10-minute run promises: no 5xx, nothing lost or doubled."""
from bench.soak.run import soak
from tests.conftest import PG_ADMIN_URL, REDIS_URL
from tests.deploy.conftest import require_nginx

FAMILIES = {"goatcounter /count", "goatcounter /api/v0/count", "umami /api/collect",
            "basic /collect"}


def test_twenty_seconds_of_mixed_traffic_lose_nothing(tmp_path_factory):
    require_nginx()
    logs = tmp_path_factory.mktemp("soak-logs")
    result = soak(20, workers=2, log_dir=str(logs), pg_admin_url=PG_ADMIN_URL,
                  redis_url=REDIS_URL, progress=lambda *_: None)
    context = f"logs in {logs}"
    assert result["crashes"] == [], context
    assert result["server_errors"] == 0, (result["answers_by_status"], context)
    assert result["errors"] == {}, context
    assert result["unexpected_answers"] == {}, context
    assert set(result["hits_sent"]) == FAMILIES
    assert result["hits_sent_total"] > 1000
    # Every hit that got a success answer is stored once, and counted once in the rollups.
    assert result["stored"]["hits"] == result["hits_sent_total"], context
    assert result["lost"] == 0
    assert result["stored"]["hit_counts_pageviews"] == result["hits_sent_total"]
    assert result["stored"]["site_hours_pageviews"] == result["hits_sent_total"]
    assert result["stored"]["dropped"] == {}
    # The reads ran too: every widget of the dashboards, and each stats API.
    labels = {row["request"] for row in result["latency"]}
    assert {"dashboard page", "widget summary", "goatcounter /api/v0/stats/total",
            "umami /api/website/{id}/stats", "basic /api/stats"} <= labels
    assert result["passed"]
