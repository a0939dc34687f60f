"""sdk.js and the dialog over plain HTTP: headers, validation, escaping, the finish endpoint's guards."""

import json
import re

import pytest

XSS = '"><script>window.__xss=1</script><img src=x onerror="window.__xss=2">'


def dialog_params(app, **overrides):
    params = {
        "app_id": app["app_id"],
        "config_id": app["config_id"],
        "origin": "http://127.0.0.1:9",
        "nonce": "abcdef0123456789",
        "locale": "en_US",
        "extras": json.dumps({"setup": {}, "featureType": "", "sessionInfoVersion": "3"}),
    }
    params.update(overrides)
    return params


@pytest.mark.parametrize("path, locale", [("/_sim/sdk.js", "en_US"), ("/_sim/es_LA/sdk.js", "es_LA"), ("/_sim/pt_BR/sdk.js", "pt_BR")])
def test_sdk_js_is_served_for_cross_origin_loading(roost, path, locale):
    with roost.http() as client:
        response = client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert response.headers["access-control-allow-origin"] == "*"
    assert "window.FB = FB" in response.text
    assert f'"locale": "{locale}"' in response.text
    assert f'"dialogUrl": "{roost.base_url}/_sim/dialog"' in response.text


def test_sdk_js_for_a_malformed_locale_is_not_found(roost):
    with roost.http() as client:
        assert client.get("/_sim/xx/sdk.js").status_code == 404


def test_the_dialog_has_a_strict_csp_and_every_hook(roost, sim_app):
    with roost.http() as client:
        response = client.get("/_sim/dialog", params=dialog_params(sim_app))

    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "cross-origin-opener-policy" not in response.headers  # the dialog needs window.opener
    for hook in ("es-sim-finish", "es-sim-finish-coexistence", "es-sim-finish-only-waba", "es-sim-cancel",
                 "es-sim-cancel-step", "es-sim-error", "es-sim-error-code", "es-sim-close"):
        assert f'data-testid="{hook}"' in response.text
    steps = re.findall(r'<option value="([A-Z_]+)">\1</option>', response.text)
    assert steps == ["BUSINESS_ACCOUNT_SELECTION", "WABA_PHONE_PROFILE_PICKER", "WHATSAPP_BUSINESS_PROFILE_SETUP",
                     "PHONE_NUMBER_SETUP", "PHONE_NUMBER_VERIFICATION", "PERMISSIONS"]


def test_prefill_values_are_escaped_in_the_page(roost, sim_app):
    extras = {"setup": {"business": {"name": XSS, "email": XSS, "phone": {"code": 1, "number": XSS}},
                        "phone": {"displayName": XSS, "description": "</textarea>" + XSS}}}

    with roost.http() as client:
        html = client.get("/_sim/dialog", params=dialog_params(sim_app, extras=json.dumps(extras))).text

    assert "<script>window.__xss" not in html
    assert "<img src=x" not in html
    assert "&#34;&gt;&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    # The configuration handed to the script is JSON with <, > and & escaped.
    config = re.search(r'<script type="application/json" id="sim-config">(.*?)</script>', html, re.S).group(1)
    assert "<" not in config
    assert json.loads(config)["extras"] == extras


def test_the_dialog_speaks_the_locale(roost, sim_app):
    with roost.http() as client:
        spanish = client.get("/_sim/dialog", params=dialog_params(sim_app, locale="es_LA")).text
        portuguese = client.get("/_sim/dialog", params=dialog_params(sim_app, locale="pt_BR")).text

    assert '<html lang="es">' in spanish and "Portafolio comercial" in spanish
    assert '<html lang="pt">' in portuguese and "Portfólio empresarial" in portuguese


@pytest.mark.parametrize(
    "override, reason",
    [({"app_id": "abc"}, "Invalid App ID"), ({"config_id": "1"}, "Invalid configuration"),
     ({"origin": "javascript:alert(1)"}, "Invalid origin"), ({"origin": "https://a.example/path"}, "Invalid origin"),
     ({"nonce": "x"}, "Invalid request")],
)
def test_a_dialog_opened_wrongly_explains_why(roost, sim_app, override, reason):
    with roost.http() as client:
        response = client.get("/_sim/dialog", params=dialog_params(sim_app, **override))

    assert response.status_code == 400
    assert reason in response.text
    assert 'data-testid="es-sim-invalid"' in response.text
    assert "content-security-policy" in response.headers


def test_the_finish_endpoint_refuses_another_origin(roost, sim_app):
    body = {"nonce": "abcdef0123456789", "app_id": sim_app["app_id"], "extras": {}, "variant": "FINISH"}
    with roost.http() as client:
        response = client.post("/_sim/dialog/complete", json=body, headers={"Origin": "https://evil.example"})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"
    assert roost.sql("SELECT count(*) FROM sim_signups WHERE app_id = :a", a=sim_app["app_id"]) == [(0,)]


def test_a_dialog_finishes_once(roost, sim_app):
    body = {"nonce": "abcdef0123456789", "app_id": sim_app["app_id"], "config_id": sim_app["config_id"], "extras": {}, "variant": "FINISH"}
    with roost.http() as client:
        first = client.post("/_sim/dialog/complete", json=body, headers={"Origin": roost.base_url})
        second = client.post("/_sim/dialog/complete", json=body, headers={"Origin": roost.base_url})

    assert first.status_code == 200
    assert first.json()["login_response"]["nonce"] == "abcdef0123456789"
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "dialog_already_finished"
    assert roost.sql("SELECT count(*) FROM sim_signups WHERE app_id = :a", a=sim_app["app_id"]) == [(1,)]


def test_a_finish_with_a_wrong_config_id_is_refused(roost, sim_app):
    body = {"nonce": "abcdef0123456789", "app_id": sim_app["app_id"], "config_id": "1", "extras": {}, "variant": "FINISH"}
    with roost.http() as client:
        response = client.post("/_sim/dialog/complete", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "config_id"
