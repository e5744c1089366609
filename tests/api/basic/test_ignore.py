"""POST/GET /api/ignore and DELETE /api/ignore/{ip}: the server-wide ignore list, which the
tracking endpoints honour for every site."""
from sqlalchemy import func, select

from app import accounts
from app.ingest import ingest
from app.models import BotHit, Hit, IgnoredIp
from tests.api.basic.conftest import CHROME


def test_add_list_and_remove(client, db, auth):
    for ip in ("192.168.1.1", "10.0.0.0/8", "2001:DB8::1", "2001:db8:1::/48"):
        response = client.post("/api/ignore", json={"ip": ip}, headers=auth)
        assert response.status_code == 201 and response.json == {}
    listed = client.get("/api/ignore", headers=auth)
    assert listed.status_code == 200
    assert listed.json == ["192.168.1.1", "10.0.0.0/8", "2001:db8::1", "2001:db8:1::/48"]
    # Adding again changes nothing.
    assert client.post("/api/ignore", json={"ip": "192.168.1.1"}, headers=auth).status_code == 201
    assert db.session.scalar(select(func.count()).select_from(IgnoredIp)) == 4
    # All rows are global (no site).
    assert db.session.scalars(select(IgnoredIp.site_id)).all() == [None] * 4

    assert client.delete("/api/ignore/192.168.1.1", headers=auth).status_code == 204
    assert client.delete("/api/ignore/10.0.0.0/8", headers=auth).status_code == 204
    assert client.delete("/api/ignore/2001:db8:1::%2F48", headers=auth).status_code == 204
    assert client.get("/api/ignore", headers=auth).json == ["2001:db8::1"]
    # Idempotent, also for what was never listed or is no address.
    for entry in ("192.168.1.1", "172.16.0.1", "nonsense", "10.0.0.1/8", "1.2.3.4%00"):
        response = client.delete(f"/api/ignore/{entry}", headers=auth)
        assert response.status_code == 204 and response.data == b""
    assert client.get("/api/ignore", headers=auth).json == ["2001:db8::1"]


def test_site_ignore_lists_are_not_part_of_it(client, auth, site):
    accounts.set_ignored_ips(site, ["172.16.0.1"])
    assert client.get("/api/ignore", headers=auth).json == []
    assert client.delete("/api/ignore/172.16.0.1", headers=auth).status_code == 204
    assert [entry.network for entry in site.ignored_ips] == ["172.16.0.1/32"]


def test_validation(client, db, auth):
    cases = [({}, "missing ip"), ({"ip": ""}, "missing ip"), ({"ip": None}, "missing ip"),
             ({"ip": 192}, "invalid ip"), ({"ip": "192.168.1.300"}, "invalid ip"),
             ({"ip": "example.com"}, "invalid ip"), ({"ip": "10.0.0.1/8"}, "invalid ip"),
             ({"ip": "10.0.0.0/33"}, "invalid ip"), ({"ip": "::g"}, "invalid ip"),
             ({"ip": "1.2.3.4\u0000"}, "invalid ip")]
    for body, message in cases:
        response = client.post("/api/ignore", json=body, headers=auth)
        assert (response.status_code, response.json) == (400, {"error": message}), body
    response = client.post("/api/ignore", data="{'ip': '1.2.3.4'}", headers=auth)
    assert (response.status_code, response.json) == (400, {"error": "invalid json"})
    assert db.session.scalar(select(func.count()).select_from(IgnoredIp)) == 0


def test_ignored_visitors_are_not_recorded_for_any_site(client, db, auth, site):
    other = accounts.create_site("other.example")
    assert client.post("/api/ignore", json={"ip": "203.0.113.0/24"}, headers=auth).status_code \
        == 201

    def collect(domain, ip, path):
        return client.post("/collect", json={"path": path},
                           headers={"Origin": f"https://{domain}", "User-Agent": CHROME},
                           environ_base={"REMOTE_ADDR": ip})
    for domain in ("example.com", "other.example"):
        assert collect(domain, "203.0.113.9", "/ignored").status_code == 204
        assert collect(domain, "198.51.100.7", "/counted").status_code == 204
    ingest().flush()
    db.session.rollback()
    assert sorted(db.session.scalars(select(Hit.site_id))) == sorted([site.id, other.id])
    assert db.session.scalar(select(func.count()).select_from(BotHit).where(
        BotHit.reason == "ignored-ip")) == 2
    # Removed from the list: counted again.
    assert client.delete("/api/ignore/203.0.113.0/24", headers=auth).status_code == 204
    assert collect("example.com", "203.0.113.9", "/again").status_code == 204
    ingest().flush()
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Hit)) == 3
