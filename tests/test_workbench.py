"""The workbench page (GET /workbench) in a real browser: Debian's headless Chromium driven by selenium through
chromedriver, against `payerkb serve` running in a subprocess.

Without a browser the browser tests skip, saying why; with PAYERKB_REQUIRE_BROWSER=1 (as .ci/run sets) they
fail instead. Nothing is downloaded at test time: the browser and its driver are the system's."""
from __future__ import annotations

import copy
import json
import os
import re
import time
from pathlib import Path

import httpx
import pytest

from test_service import EXAMPLES, Server

CHROMIUM = Path(os.environ.get("PAYERKB_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("PAYERKB_CHROMEDRIVER", "/usr/bin/chromedriver"))
REQUIRE = os.environ.get("PAYERKB_REQUIRE_BROWSER") == "1"
WAIT = 45  # seconds for one answer to show: the service answers in well under one; the machine may be busy

TWO_MUSCLES = {k: v for k, v in copy.deepcopy(EXAMPLES[0]).items() if k != "claim"}
TWO_MUSCLES["id"] = "wb-two-muscles"
TWO_MUSCLES["injections"] = TWO_MUSCLES["injections"][:2]  # upper trapezius, rhomboid major: 20552


def _missing_browser() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install '.[test]'"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is not there: apt-get install chromium chromium-driver (Debian)"
    return None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("workbench"), "--workers", "2")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    reason = _missing_browser()
    if reason:
        (pytest.fail if REQUIRE else pytest.skip)(f"no headless browser for the workbench tests: {reason}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    tmp = tmp_path_factory.mktemp("chromium")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp / 'profile'}", "--window-size=1300,1800"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp / "chromedriver.log")),
                              options=options)
    yield driver
    driver.quit()


def _wait(driver, predicate, what: str):
    """Wait for predicate(driver) to be true; on a timeout, fail saying what the page showed."""
    from selenium.webdriver.support.ui import WebDriverWait
    from selenium.common.exceptions import TimeoutException
    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.05).until(predicate)
    except TimeoutException:
        page = driver.execute_script("return {status: document.getElementById('status').textContent, "
                                     "check: document.getElementById('check-body').innerText.slice(0, 600)}")
        raise AssertionError(f"the page never showed {what}; it showed {page}") from None


def _panel(driver, name: str) -> dict:
    """What a panel shows, read in one go: its state, claim codes, findings, links, rows."""
    return driver.execute_script("""
        const p = document.getElementById(arguments[0]);
        const all = (sel) => [...p.querySelectorAll(sel)];
        return {state: p.dataset.state, busy: p.getAttribute('aria-busy'), text: p.innerText,
                codes: all('.claim-code').map(e => e.textContent),
                rules: all('.finding .rule').map(e => e.textContent),
                links: all('.finding a').map(e => ({text: e.textContent, href: e.getAttribute('href')})),
                rows: all('.compare-row th').map(e => e.textContent),
                outcome: (p.querySelector('.verdict .outcome') || {}).textContent,
                changes: all('.changes > li > strong').map(e => e.textContent),
                alternatives: all('.alternative').length,
                broken: all('.broken > .finding .rule').map(e => e.textContent),
                broken_links: all('.broken > .finding a').map(e => ({text: e.textContent, href: e.getAttribute('href')})),
                evidence: all('.broken .evidence li').map(e => e.textContent),
                flips: all('.flip').map(f => ({facts: [...f.querySelectorAll('.fact')].map(x => ({
                    path: x.querySelector('.path').textContent, old: x.querySelector('.old').textContent,
                    new: x.querySelector('.new').textContent})),
                    outcome: f.querySelector(':scope > p .outcome').textContent,
                    claim: f.querySelector('.flip-claim').textContent}))};""", name)


def _settled(driver) -> bool:
    return driver.execute_script("return ['idle', 'error'].includes(document.getElementById('status').dataset.state) "
                                 "&& ![...document.querySelectorAll('.panel')].some(p => p.getAttribute('aria-busy') === 'true')")


def _open(driver, server) -> None:
    driver.get(server.url + "/workbench")
    _wait(driver, lambda d: _panel(d, "check-body")["state"] == "ok", "the sample encounter's answer")


def _paste(driver, encounter: dict) -> None:
    """Replace the JSON text as a paste does: the whole text at once, one input event."""
    driver.execute_script("const s = document.getElementById('source'); s.focus(); s.select(); "
                          "document.execCommand('insertText', false, arguments[0]);", json.dumps(encounter, indent=1))


def _answer(server, url: str, encounter: dict) -> httpx.Response:
    return server.client.post(url, json=encounter)


def test_the_page_and_its_files_are_served_with_a_policy_that_loads_nothing_from_elsewhere(server):
    page = httpx.get(server.url + "/workbench")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
        resp = httpx.get(f"{server.url}/workbench/{name}")
        assert resp.status_code == 200 and resp.headers["content-type"].startswith(kind)
        assert not re.search(r"""(src|href|from|import|url)\s*[=(]?\s*["']?(https?:)?//""", resp.text), name
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)
    missing = httpx.get(server.url + "/workbench/../app.py")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    assert httpx.get(server.url + "/workbench/secrets.txt").json()["field"] == "name"


def test_adding_a_third_muscle_changes_the_code_from_20552_to_20553(server, browser):
    from selenium.webdriver.common.by import By
    _open(browser, server)
    assert _panel(browser, "check-body")["codes"] == ["20553"]  # the sample: three muscles
    _paste(browser, TWO_MUSCLES)
    _wait(browser, lambda d: _panel(d, "check-body")["codes"] == ["20552"], "20552 for two muscles")
    expected = _answer(server, "/v1/check", TWO_MUSCLES).json()
    shown = _panel(browser, "check-body")
    assert shown["rules"] == [f["rule"] for f in expected["findings"]]
    assert expected["outcome"] in shown["text"]

    before = len(server.decisions())
    browser.find_element(By.ID, "add-injection").click()
    muscle = browser.switch_to.active_element  # the new row's muscle field has the focus
    assert muscle.get_attribute("id") == "inj-2-muscle"
    name = "levator scapulae"
    for key in name:  # a fast typist: a key every 50 ms, well inside the page's 300 ms wait
        muscle.send_keys(key)
        time.sleep(0.05)
    _wait(browser, lambda d: _panel(d, "check-body")["codes"] == ["20553"], "20553 once a third muscle is named")
    _wait(browser, lambda d: _panel(d, "check-body")["busy"] == "false", "the answer settled")
    text = json.loads(browser.find_element(By.ID, "source").get_attribute("value"))
    assert [i.get("muscle") for i in text["injections"]] == ["upper trapezius", "rhomboid major", name]
    assert text["injections"][2]["side"] == "right"  # a new row takes the side of the one above
    assert len(server.decisions()) - before < len(name) // 2  # debounced: not one check a keystroke

    browser.find_element(By.CSS_SELECTOR, "button[aria-label='Remove muscle 3']").click()
    _wait(browser, lambda d: _panel(d, "check-body")["codes"] == ["20552"], "20552 again once the third muscle is removed")


def test_each_finding_shows_the_citations_the_service_gave_it_as_links(server, browser):
    _open(browser, server)
    sample = json.loads(browser.execute_script("return document.getElementById('source').value"))
    expected = _answer(server, "/v1/check", sample).json()
    shown = _panel(browser, "check-body")
    assert shown["rules"] == [f["rule"] for f in expected["findings"]] and "cpt.tpi-code-by-muscle-count" in shown["rules"]
    cited = [{"text": c["title"], "href": c["url"]} for f in expected["findings"] for c in f["citations"]]
    assert shown["links"] == cited and all(link["href"].startswith("https://") for link in cited)


def test_a_problem_the_service_answers_is_shown_plainly_with_the_field_it_names(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    _open(browser, server)
    field = browser.find_element(By.ID, "f-diagnoses")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("M79.12, not-a-code")
    _wait(browser, lambda d: _panel(d, "check-body")["state"] == "problem", "the service's problem")
    text = _panel(browser, "check-body")["text"]
    assert "Field: diagnoses.1" in text and "ICD-10-CM" in text and "(422)" in text
    assert browser.find_element(By.ID, "status").get_attribute("data-state") == "error"

    _wait(browser, _settled, "every panel answered")
    before = len(server.decisions())
    source = browser.find_element(By.ID, "source")
    source.send_keys(Keys.CONTROL, Keys.END)
    source.send_keys("}")  # no longer JSON: shown as such, and not sent
    error = browser.find_element(By.ID, "source-error")
    _wait(browser, lambda d: error.is_displayed(), "the JSON error")
    assert "does not parse" in error.text and source.get_attribute("aria-invalid") == "true"
    assert "Not sent" in browser.find_element(By.ID, "status").text
    browser.execute_script("return new Promise(r => setTimeout(r, 600))")  # longer than the debounce
    assert len(server.decisions()) == before


def test_text_from_the_encounter_is_shown_as_text_never_as_markup(server, browser):
    _open(browser, server)
    hostile = "<img src=x onerror=\"window.hacked=1\">"
    encounter = dict(TWO_MUSCLES, id="<b>wb</b>", payer="<i>nobody</i>")
    encounter["injections"] = [dict(TWO_MUSCLES["injections"][0], muscle=hostile)]
    _paste(browser, dict(encounter, payer="medicare-cgs"))
    _wait(browser, lambda d: hostile in _panel(d, "check-body")["text"], "the muscle's name as text")
    assert "<b>wb</b>" in _panel(browser, "check-body")["text"]
    _paste(browser, encounter)  # an unknown payer: a problem naming the field, the payer's name as text
    _wait(browser, lambda d: _panel(d, "check-body")["state"] == "problem", "the unknown payer's problem")
    assert "Field: payer" in _panel(browser, "check-body")["text"]
    options = browser.execute_script("return [...document.getElementById('f-payer').options].map(o => o.textContent)")
    assert "<i>nobody</i> (not one this service knows)" in options
    assert browser.execute_script("return [document.querySelectorAll('main img, main b, main i').length, window.hacked]") == [0, None]


def test_every_control_has_a_label_and_a_muscle_can_be_added_from_the_keyboard(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    _open(browser, server)
    unlabelled = browser.execute_script(
        "return [...document.querySelectorAll('input, select, textarea')].filter(e => !e.labels.length).map(e => e.id)")
    assert unlabelled == []
    add = browser.find_element(By.ID, "add-injection")
    browser.execute_script("arguments[0].focus()", add)
    add.send_keys(Keys.ENTER)
    assert browser.switch_to.active_element.get_attribute("id") == "inj-3-muscle"
    browser.switch_to.active_element.send_keys("infraspinatus")
    _wait(browser, lambda d: "4 distinct named muscle(s)" in _panel(d, "check-body")["text"], "four muscles counted")


def _routes(server) -> set[str]:
    return set(server.client.get("/openapi.json").json()["paths"])


def test_the_payer_comparison_shows_the_services_rows_or_says_it_is_unavailable(server, browser):
    _open(browser, server)
    _wait(browser, lambda d: _panel(d, "compare-body")["state"] not in ("busy", None), "the comparison")
    shown = _panel(browser, "compare-body")
    if "/v1/compare" not in _routes(server):
        assert shown["state"] == "unavailable" and "Unavailable" in shown["text"] and not shown["rows"]
        return
    sample = json.loads(browser.execute_script("return document.getElementById('source').value"))
    expected = _answer(server, "/v1/compare?payers=all", sample).json()
    assert shown["state"] == "ok", shown["text"]
    assert shown["rows"] == [row["payer"] for row in expected["rows"]] and len(shown["rows"]) > 1

    # a date sweep: the encounter's payer over a range, and the dates on which its answer changes
    _paste(browser, EXAMPLES[2])  # three earlier sessions: a frequency window rolls on and off
    browser.execute_script("for (const [id, v] of [['sweep-from', '2024-01-01'], ['sweep-to', '2025-06-30']]) {"
                           "const e = document.getElementById(id); e.value = v; e.dispatchEvent(new Event('input', {bubbles: true})); }")
    expected = _answer(server, "/v1/compare?from=2024-01-01&to=2025-06-30", EXAMPLES[2]).json()
    dates = [c["date"] for c in expected["change_dates"]]
    assert dates, "the sweep found no date on which the answer changes"
    _wait(browser, lambda d: _panel(d, "compare-body")["changes"] == dates, f"the change dates {dates}")


def test_what_is_missing_shows_the_services_alternatives_and_one_applies_to_the_encounter(server, browser):
    from selenium.webdriver.common.by import By
    _open(browser, server)
    _wait(browser, lambda d: _panel(d, "missing-body")["state"] not in ("busy", None), "what is missing")
    shown = _panel(browser, "missing-body")
    if "/v1/explain" not in _routes(server):
        assert shown["state"] == "unavailable" and "Unavailable" in shown["text"] and not shown["alternatives"]
        return
    # an encounter short of documentation for a payer that asks for it: the search has something to find
    short = dict(copy.deepcopy(TWO_MUSCLES), payer="commercial-default")
    short["documentation"]["conservative_therapy"]["failed"] = False
    _paste(browser, short)
    expected = _answer(server, "/v1/explain?missing=true", short).json()
    first = expected["alternatives"][0]
    _wait(browser, lambda d: _panel(d, "missing-body")["state"] == "ok"  # the new answer, not the sample's nearest
          and all(f["path"] in _panel(d, "missing-body")["text"] for f in first["facts"]), "the alternatives")
    assert _panel(browser, "missing-body")["alternatives"] == len(expected["alternatives"])
    assert expected["baseline"]["outcome"] != "allow" and first["facts"], "the search found nothing to document"
    text = _panel(browser, "missing-body")["text"]
    assert all(f["path"] in text for f in first["facts"])
    browser.find_element(By.CSS_SELECTOR, "#missing-body .alternative button").click()

    def form_follows(d) -> bool:  # the form follows the facts applied (it may be drawn again meanwhile)
        from selenium.common.exceptions import StaleElementReferenceException
        try:
            for fact in first["facts"]:
                control = d.find_elements(By.CSS_SELECTOR, f"#form [data-path='{fact['path']}']")
                if control and isinstance(fact["value"], bool) and control[0].is_selected() != fact["value"]:
                    return False
        except StaleElementReferenceException:
            return False
        return True
    _wait(browser, form_follows, "the form with the facts applied")
    applied = json.loads(browser.find_element(By.ID, "source").get_attribute("value"))
    recheck = _answer(server, "/v1/check", applied).json()
    assert recheck["outcome"] == first["outcome"]
    _wait(browser, lambda d: _panel(d, "check-body")["outcome"] == recheck["outcome"], "the outcome the alternative promised")


def _type_why_not(driver, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    field = driver.find_element(By.ID, "why-not-code")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(text)


def test_why_not_20553_on_two_muscles_lists_the_muscle_count_rule_with_its_citations(server, browser):
    from selenium.webdriver.common.by import By
    _open(browser, server)
    _paste(browser, TWO_MUSCLES)
    _wait(browser, lambda d: _panel(d, "check-body")["codes"] == ["20552"], "20552 for two muscles")
    assert _panel(browser, "why-not-body")["state"] == "idle"  # nothing asked before a code is chosen
    offers = browser.execute_script("return [...document.querySelectorAll('#why-not-offers button')].map(b => b.dataset.code)")
    assert offers == ["20553"]  # the TPI code the answer did not choose
    if "/v1/explain" not in _routes(server):
        browser.find_element(By.CSS_SELECTOR, "#why-not-offers button[data-code='20553']").click()
        _wait(browser, lambda d: _panel(d, "why-not-body")["state"] == "unavailable", "the panel saying unavailable")
        return
    expected = _answer(server, "/v1/explain?why_not=20553", TWO_MUSCLES).json()
    rule = next(f for f in expected["broken"] if f["rule"] == "cpt.tpi-code-by-muscle-count")
    browser.find_element(By.CSS_SELECTOR, "#why-not-offers button[data-code='20553']").click()
    _wait(browser, lambda d: _panel(d, "why-not-body")["state"] == "ok", "the why-not answer")
    shown = _panel(browser, "why-not-body")
    assert shown["broken"] == [f["rule"] for f in expected["broken"]] and "cpt.tpi-code-by-muscle-count" in shown["broken"]
    assert shown["broken_links"] == [{"text": c["title"], "href": c["url"]} for f in expected["broken"] for c in f["citations"]]
    assert {"text": rule["citations"][0]["title"], "href": "https://www.ama-assn.org/practice-management/cpt"} in shown["broken_links"]
    assert "no third named muscle is documented (20553 is for 3 or more)" in shown["evidence"]  # a negative condition
    assert rule["message"] in shown["text"] and "20553" in shown["text"]

    # it follows the encounter: with a third muscle the answer is 20553, and forcing 20553 breaks no such rule
    third = copy.deepcopy(TWO_MUSCLES)
    third["injections"].append(dict(TWO_MUSCLES["injections"][0], muscle="levator scapulae", trigger_points=2))
    _paste(browser, third)
    _wait(browser, lambda d: _panel(d, "check-body")["codes"] == ["20553"], "20553 for three muscles")
    _wait(browser, lambda d: _panel(d, "why-not-body")["state"] == "ok"
          and "cpt.tpi-code-by-muscle-count" not in _panel(d, "why-not-body")["broken"], "why not 20553 asked again")
    assert browser.execute_script("return [...document.querySelectorAll('#why-not-offers button')].map(b => b.dataset.code)") == ["20552"]


def test_a_malformed_why_not_code_is_refused_in_the_page_and_a_code_the_service_refuses_shows_its_problem(server, browser):
    _open(browser, server)
    _wait(browser, _settled, "every panel answered")
    browser.execute_script("window.asked = []; const f = window.fetch; "
                           "window.fetch = (url, opts) => { window.asked.push(String(url)); return f(url, opts); };")
    _type_why_not(browser, "20553-5")
    _wait(browser, lambda d: _panel(d, "why-not-body")["state"] == "refused", "the code refused")
    browser.execute_script("return new Promise(r => setTimeout(r, 600))")  # longer than the debounce
    assert browser.execute_script("return window.asked") == []
    assert "is not CODE[-MOD...]" in _panel(browser, "why-not-body")["text"]
    assert browser.execute_script("return document.getElementById('why-not-code').getAttribute('aria-invalid')") == "true"
    _type_why_not(browser, "<img src=x onerror=window.hacked=1>")  # refused, and shown as the text typed
    _wait(browser, lambda d: "<img src=x" in _panel(d, "why-not-body")["text"], "the markup typed shown as text")
    assert browser.execute_script("return [document.querySelectorAll('main img').length, window.hacked, window.asked]") == [0, None, []]

    if "/v1/explain" not in _routes(server):
        return
    _type_why_not(browser, "99999")  # well formed, but no service of the encounter bills it: the service says so
    expected = _answer(server, "/v1/explain?why_not=99999", EXAMPLES[0])
    assert expected.status_code == 422
    _wait(browser, lambda d: _panel(d, "why-not-body")["state"] == "problem", "the service's problem")
    text = _panel(browser, "why-not-body")["text"]
    assert expected.json()["detail"] in text and "Field: why_not" in text and "(422)" in text
    assert browser.execute_script("return window.asked") == ["/v1/explain?why_not=99999"]


def test_what_flips_the_answer_lists_single_changes_and_applying_one_changes_the_answer(server, browser):
    from selenium.webdriver.common.by import By
    _open(browser, server)
    _paste(browser, TWO_MUSCLES)
    _wait(browser, lambda d: _panel(d, "check-body")["codes"] == ["20552"], "20552 for two muscles")
    if "/v1/explain" not in _routes(server):
        _wait(browser, lambda d: _panel(d, "sensitivity-body")["state"] == "unavailable", "the panel saying unavailable")
        return
    expected = _answer(server, "/v1/explain?sensitivity=true", TWO_MUSCLES).json()
    paths = [[f["path"] for f in flip["facts"]] for flip in expected["flips"]]
    _wait(browser, lambda d: _panel(d, "sensitivity-body")["state"] == "ok"
          and [[x["path"] for x in f["facts"]] for f in _panel(d, "sensitivity-body")["flips"]] == paths, f"the changes {paths}")
    shown = _panel(browser, "sensitivity-body")["flips"]
    assert [f["outcome"] for f in shown] == [f["outcome"] for f in expected["flips"]]
    exam = paths.index(["documentation.trigger_points_on_exam"])
    assert shown[exam]["facts"] == [{"path": "documentation.trigger_points_on_exam", "old": "true", "new": "false"}]
    assert shown[exam]["outcome"] == "deny" and expected["baseline"]["outcome"] == "allow"
    dx = paths.index(["diagnoses[0]"])
    assert shown[dx]["facts"][0]["old"] == '"M79.12"' and shown[dx]["facts"][0]["new"] == "(removed)"
    third = paths.index(["injections[2]"])  # a third muscle added: the code flips to 20553
    assert shown[third]["facts"][0]["old"] == "(absent)" and shown[third]["claim"].startswith("20553")

    browser.find_elements(By.CSS_SELECTOR, "#sensitivity-body .flip button.apply")[third].click()
    applied = json.loads(browser.find_element(By.ID, "source").get_attribute("value"))
    assert applied["injections"][2] == expected["flips"][third]["facts"][0]["value"]
    assert browser.find_element(By.ID, "inj-2-muscle").get_attribute("value") == applied["injections"][2]["muscle"]
    _wait(browser, lambda d: _panel(d, "check-body")["codes"] == ["20553"], "20553 once the change is applied")
    assert _panel(browser, "check-body")["outcome"] == expected["flips"][third]["outcome"]

    # a removal takes the item out of its list (the index of the next one moves up), as the service applies it
    _paste(browser, TWO_MUSCLES)
    _wait(browser, lambda d: len(_panel(d, "sensitivity-body")["flips"]) == len(paths)
          and _panel(d, "check-body")["codes"] == ["20552"], "the two-muscle changes again")
    browser.find_elements(By.CSS_SELECTOR, "#sensitivity-body .flip button.apply")[dx].click()
    applied = json.loads(browser.find_element(By.ID, "source").get_attribute("value"))
    assert applied["diagnoses"] == TWO_MUSCLES["diagnoses"][1:]
    assert browser.find_element(By.ID, "f-diagnoses").get_attribute("value") == ", ".join(TWO_MUSCLES["diagnoses"][1:])
    _wait(browser, lambda d: _panel(d, "check-body")["outcome"] == expected["flips"][dx]["outcome"], "the outcome the removal leads to")
