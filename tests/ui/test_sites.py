"""Site pages: create, settings (collect flags, IP mode, ignore list, retention, visibility,
DNT), tracking code, deletion, role checks and escaping of site names."""
import html
import re

import pytest

from sqlalchemy import func, select

from app import accounts
from app.models import Collect, IgnoredIp, Site
from tests.ui.conftest import inputs, log_in, text

XSS = "<script>alert(1)</script>"


def settings_form(site, **changes):
    """The settings form as the browser would send it for ``site`` unchanged, plus changes."""
    values = site.settings
    form = {
        "domain": site.cname, "name": site.name, "link_domain": site.link_domain,
        "collect": [int(flag) for flag in Collect
                    if flag != Collect.NOTHING and values["collect"] & flag],
        "ip_mode": values["ip_mode"],
        "ignore_ips": "\n".join(entry.display for entry in site.ignored_ips),
        "data_retention": str(values["data_retention"]),
        "public": values["public"], "secret": values["secret"],
        "collect_regions": ", ".join(values["collect_regions"]),
    }
    for flag in ("dnt", "allow_counter"):
        if values[flag]:
            form[flag] = "y"
    form.update(changes)
    return {key: value for key, value in form.items() if value is not None}


def networks(site):
    return [entry.network for entry in site.ignored_ips]


def as_user(new_client, role, username=None):
    username = username or f"user-{role}"
    accounts.create_user(username, "password-" + username, role=role)
    client = new_client()
    assert log_in(client, username, "password-" + username).status_code == 302
    return client


# --- create ----------------------------------------------------------------------------------

def test_new_site_page_and_create_normalises_the_domain(logged_in, db):
    assert logged_in.get("/sites/new").status_code == 200

    response = logged_in.post("/sites/new", data={
        "domain": "https://WWW.Example.ORG:8080/x", "name": "Example", "link_domain": ""})

    site = db.session.scalar(select(Site))
    assert site.cname == "www.example.org"
    assert site.name == "Example" and site.state == "a"
    assert response.status_code == 302
    assert response.headers["Location"] == f"/sites/{site.id}/tracking"
    assert "www.example.org" in text(logged_in.get("/sites"))


def test_create_site_rejects_a_duplicate_domain(logged_in, db, site):
    response = logged_in.post("/sites/new", data={"domain": "HTTP://example.com/"})
    assert response.status_code == 200
    assert "already exists" in text(response)
    assert db.session.scalar(select(func.count()).select_from(Site)) == 1


def test_create_site_rejects_an_invalid_domain(logged_in, db):
    for domain in ("not a domain!", "exa_mple.com", "-bad.example", "[::1]", "http://", "a..b"):
        response = logged_in.post("/sites/new", data={"domain": domain})
        assert response.status_code == 200, domain
        assert "must be a valid domain" in text(response), domain
    assert db.session.scalar(select(func.count()).select_from(Site)) == 0


# --- settings --------------------------------------------------------------------------------

def test_settings_page_shows_the_current_values(logged_in, site):
    accounts.set_ignored_ips(site, ["10.0.0.0/8", "192.0.2.5"])
    page = text(logged_in.get(f"/sites/{site.id}/settings"))
    checked = {(i["name"], i["value"]) for i in inputs(page) if "checked" in i}
    assert ("collect", str(int(Collect.REFERRER))) in checked
    assert ("collect", str(int(Collect.LANGUAGE))) not in checked
    assert ("ip_mode", "anonymised") in checked and ("public", "private") in checked
    assert site.uuid in page and site.code in page
    assert re.search(r"<textarea[^>]*>\s*10\.0\.0\.0/8\n192\.0\.2\.5</textarea>", page)


def test_settings_save_collect_flags(logged_in, site):
    chosen = [int(Collect.REFERRER), int(Collect.LANGUAGE), int(Collect.SESSION)]
    response = logged_in.post(f"/sites/{site.id}/settings",
                              data=settings_form(site, collect=chosen))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/sites/{site.id}/settings"
    assert site.settings["collect"] == Collect.REFERRER | Collect.LANGUAGE | Collect.SESSION
    assert "Settings saved." in text(logged_in.get(response.headers["Location"]))


def test_settings_region_implies_country_and_none_means_nothing(logged_in, site):
    logged_in.post(f"/sites/{site.id}/settings",
                   data=settings_form(site, collect=[int(Collect.LOCATION_REGION)]))
    assert site.settings["collect"] == Collect.LOCATION_REGION | Collect.LOCATION

    logged_in.post(f"/sites/{site.id}/settings", data=settings_form(site, collect=[]))
    assert site.settings["collect"] == Collect.NOTHING


def test_settings_reject_an_unknown_collect_flag(logged_in, site):
    before = dict(site.settings)
    response = logged_in.post(f"/sites/{site.id}/settings",
                              data=settings_form(site, collect=[int(Collect.REFERRER), 4096]))
    assert response.status_code == 200
    assert site.settings == before


def test_settings_save_ip_mode(logged_in, site):
    for mode in ("full", "none", "anonymised"):
        response = logged_in.post(f"/sites/{site.id}/settings",
                                  data=settings_form(site, ip_mode=mode))
        assert response.status_code == 302, mode
        assert site.settings["ip_mode"] == mode


def test_settings_reject_an_unknown_ip_mode(logged_in, site):
    response = logged_in.post(f"/sites/{site.id}/settings",
                              data=settings_form(site, ip_mode="everything"))
    assert response.status_code == 200
    assert site.settings["ip_mode"] == "anonymised"


def test_settings_store_ignored_ips_canonically(logged_in, site):
    response = logged_in.post(f"/sites/{site.id}/settings", data=settings_form(
        site, ignore_ips="10.0.0.0/8, 192.0.2.5\n2001:DB8::1  10.0.0.0/8"))
    assert response.status_code == 302
    assert sorted(networks(site)) == ["10.0.0.0/8", "192.0.2.5/32", "2001:db8::1/128"]
    page = text(logged_in.get(f"/sites/{site.id}/settings"))
    assert "192.0.2.5/32" not in page and "192.0.2.5" in page


def test_settings_can_be_saved_again_with_the_same_ignore_list(logged_in, site):
    form = settings_form(site, ignore_ips="10.0.0.0/8\n192.0.2.5")
    assert logged_in.post(f"/sites/{site.id}/settings", data=form).status_code == 302
    # Saving the page unchanged (the list is the same) must work, not hit a unique constraint.
    again = settings_form(site, name="Renamed")
    assert again["ignore_ips"] == "10.0.0.0/8\n192.0.2.5"
    assert logged_in.post(f"/sites/{site.id}/settings", data=again).status_code == 302
    assert sorted(networks(site)) == ["10.0.0.0/8", "192.0.2.5/32"]
    assert site.name == "Renamed"


def test_settings_clear_the_ignore_list(logged_in, site):
    accounts.set_ignored_ips(site, ["10.0.0.0/8"])
    logged_in.post(f"/sites/{site.id}/settings", data=settings_form(site, ignore_ips=""))
    assert networks(site) == []


def test_an_invalid_ignored_ip_changes_nothing(logged_in, db, site):
    accounts.set_ignored_ips(site, ["10.0.0.0/8"])
    before = dict(site.settings)

    response = logged_in.post(f"/sites/{site.id}/settings", data=settings_form(
        site, ignore_ips="192.0.2.0/24\n10.0.0.1/8", name="Changed", ip_mode="full",
        dnt="y", collect=[int(Collect.REFERRER)], data_retention="60"))

    assert response.status_code == 200
    assert "10.0.0.1/8" in text(response)
    assert "must be a valid IPv4 or IPv6 address or CIDR range" in text(response)
    assert networks(site) == ["10.0.0.0/8"]
    assert site.name == "Example"
    assert site.settings == before
    assert db.session.scalar(select(func.count()).select_from(IgnoredIp)) == 1


def test_an_invalid_domain_in_settings_changes_nothing(logged_in, site):
    accounts.set_ignored_ips(site, ["10.0.0.0/8"])
    before = dict(site.settings)

    response = logged_in.post(f"/sites/{site.id}/settings", data=settings_form(
        site, domain="not a domain!", ignore_ips="192.0.2.0/24", ip_mode="none"))

    assert response.status_code == 200
    assert "must be a valid domain" in text(response)
    assert networks(site) == ["10.0.0.0/8"]
    assert site.cname == "example.com"
    assert site.settings == before


def test_settings_data_retention(logged_in, site):
    accounts.update_site(site, settings={"data_retention": 400})
    for days in (10, 30, -1, 1826):
        response = logged_in.post(f"/sites/{site.id}/settings",
                                  data=settings_form(site, data_retention=str(days)))
        assert response.status_code == 200, days
        assert 'class="field has-error"' in text(response), days
        assert site.settings["data_retention"] == 400
    assert "Use 0 (keep forever) or at least 31 days." in text(logged_in.post(
        f"/sites/{site.id}/settings", data=settings_form(site, data_retention="10")))

    for days in (0, 31, 1825):
        response = logged_in.post(f"/sites/{site.id}/settings",
                                  data=settings_form(site, data_retention=str(days)))
        assert response.status_code == 302, days
        assert site.settings["data_retention"] == days


def test_secret_visibility_requires_an_alphanumeric_secret(logged_in, site):
    for secret in ("", "short12", "with space 1234", "dash-es-1234", "a" * 41,
                   "<b>bold</b>1234"):
        response = logged_in.post(f"/sites/{site.id}/settings",
                                  data=settings_form(site, public="secret", secret=secret))
        assert response.status_code == 200, secret
        assert 'class="field has-error"' in text(response), secret
        assert site.settings["public"] == "private" and site.settings["secret"] == ""
    assert "&lt;b&gt;bold&lt;/b&gt;1234" in text(response)

    for secret in ("abcd1234", "A" * 40):
        response = logged_in.post(f"/sites/{site.id}/settings",
                                  data=settings_form(site, public="secret", secret=secret))
        assert response.status_code == 302, secret
        assert (site.settings["public"], site.settings["secret"]) == ("secret", secret)


def test_public_visibility_needs_no_secret(logged_in, site):
    response = logged_in.post(f"/sites/{site.id}/settings",
                              data=settings_form(site, public="public", secret=""))
    assert response.status_code == 302
    assert site.settings["public"] == "public"


def test_settings_dnt_flag(logged_in, site):
    logged_in.post(f"/sites/{site.id}/settings", data=settings_form(site, dnt="y"))
    assert site.settings["dnt"] is True
    page = text(logged_in.get(f"/sites/{site.id}/settings"))
    assert any(i.get("name") == "dnt" and "checked" in i for i in inputs(page))

    form = settings_form(site)
    del form["dnt"]  # an unticked checkbox is not sent
    logged_in.post(f"/sites/{site.id}/settings", data=form)
    assert site.settings["dnt"] is False


def test_settings_of_an_unknown_site_is_404(logged_in):
    assert logged_in.get("/sites/999/settings").status_code == 404


# --- tracking code ---------------------------------------------------------------------------

def test_tracking_page_shows_the_three_snippets_as_text(logged_in, site):
    page = text(logged_in.get(f"/sites/{site.id}/tracking"))
    snippets = dict(re.findall(r'<code id="snippet-(\w+)">(.*?)</code>', page, re.S))
    assert set(snippets) == {"goatcounter", "umami", "basic"}
    shown = {key: html.unescape(value) for key, value in snippets.items()}
    assert shown["goatcounter"] == ('<script data-goatcounter="http://localhost/count" async '
                                    'src="http://localhost/count.js"></script>')
    assert shown["umami"] == (f'<script async defer data-website-id="{site.uuid}" '
                              'src="http://localhost/umami.js"></script>')
    assert shown["basic"] == '<script src="http://localhost/track.js" defer></script>'
    # Shown for copying, never run on Ibex's own page.
    assert "<script data-goatcounter" not in page
    assert "<script async defer data-website-id" not in page
    assert 'src="http://localhost/track.js"' not in page


# --- delete ----------------------------------------------------------------------------------

def test_delete_site_soft_deletes_it(logged_in, db, site):
    other = accounts.create_site("other.example", name="Other")

    response = logged_in.post(f"/sites/{site.id}/delete")

    assert response.status_code == 302
    assert response.headers["Location"] == "/sites"
    assert db.session.get(Site, site.id).state == "d"
    listing = text(logged_in.get("/sites"))
    assert f"/sites/{site.id}/tracking" not in listing
    assert '<strong class="sitename">Example</strong>' not in listing
    assert '<strong class="sitename">Other</strong>' in listing
    assert f"/sites/{other.id}/tracking" in listing
    assert logged_in.get(f"/sites/{site.id}/settings").status_code == 404
    assert logged_in.get(f"/sites/{site.id}/tracking").status_code == 404
    assert logged_in.post(f"/sites/{site.id}/delete").status_code == 404
    # The domain is free again.
    assert logged_in.post("/sites/new", data={"domain": "example.com"}).status_code == 302


def test_delete_is_post_only(logged_in, site):
    assert logged_in.get(f"/sites/{site.id}/delete").status_code == 405
    assert site.state == "a"


# --- roles -----------------------------------------------------------------------------------

def test_read_only_user_sees_tracking_but_not_settings_or_new(new_client, db, site):
    client = as_user(new_client, "r")

    assert client.get(f"/sites/{site.id}/tracking").status_code == 200
    assert client.get(f"/sites/{site.id}/settings").status_code == 403
    assert client.post(f"/sites/{site.id}/settings",
                       data=settings_form(site, name="Hacked")).status_code == 403
    assert client.get("/sites/new").status_code == 403
    assert client.post("/sites/new", data={"domain": "new.example"}).status_code == 403
    assert client.post(f"/sites/{site.id}/delete").status_code == 403
    assert site.name == "Example" and site.state == "a"
    assert db.session.scalar(select(func.count()).select_from(Site)) == 1
    listing = text(client.get("/sites"))
    assert f"/sites/{site.id}/tracking" in listing
    assert f"/sites/{site.id}/settings" not in listing and "/sites/new" not in listing


def test_settings_user_may_change_settings_but_not_add_or_delete(new_client, site):
    client = as_user(new_client, "s")

    assert client.get(f"/sites/{site.id}/settings").status_code == 200
    assert client.post(f"/sites/{site.id}/settings",
                       data=settings_form(site, name="Renamed")).status_code == 302
    assert site.name == "Renamed"
    assert client.get("/sites/new").status_code == 403
    assert client.post(f"/sites/{site.id}/delete").status_code == 403
    assert site.state == "a"
    assert "Delete this site" not in text(client.get(f"/sites/{site.id}/settings"))


# --- escaping --------------------------------------------------------------------------------

def test_site_names_are_escaped_everywhere(logged_in, db):
    response = logged_in.post("/sites/new", data={"domain": "xss.example", "name": XSS})
    assert response.status_code == 302
    site = db.session.scalar(select(Site))
    assert site.name == XSS

    pages = {path: text(logged_in.get(path)) for path in (
        "/", "/sites", f"/sites/{site.id}/settings", f"/sites/{site.id}/tracking")}
    for path, page in pages.items():
        assert XSS not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path


def test_settings_save_the_origins_allowed_to_embed(logged_in, site):
    response = logged_in.post(f"/sites/{site.id}/settings", data=settings_form(
        site, allow_embed="https://blog.example\nhttp://localhost:8000, wiki.example"))
    assert response.status_code == 302
    assert site.settings["allow_embed"] == ["https://blog.example", "http://localhost:8000",
                                            "wiki.example"]
    assert "https://blog.example" in text(logged_in.get(f"/sites/{site.id}/settings"))


@pytest.mark.parametrize("entry", ["*", "[", "ftp://files.example", XSS])
def test_settings_refuse_bad_embed_origins(logged_in, site, entry):
    response = logged_in.post(f"/sites/{site.id}/settings",
                              data=settings_form(site, allow_embed=entry))
    assert response.status_code == 200
    assert "Each entry" in text(response) and XSS not in response.get_data(as_text=True)
    assert site.settings.get("allow_embed", []) == []
