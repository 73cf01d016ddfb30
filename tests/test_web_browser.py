"""The review service in a real browser (Debian's chromium, headless, driven by selenium).

An officer asks to view a recording, an approver grants it, the officer plays the proxy (the
video's time advances, and it seeks), explains an interruption with a written statement, and is
refused a recording without a grant; then the access log holds exactly those accesses.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from catalog.store import Catalog
from pipeline.archive import chain
from tests.webkit import PASSWORD, build_archive, fast_config, gap_of, recording_of

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="no chromium and chromium-driver on PATH: install Debian's `chromium chromium-driver` (.ci/run does)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    import uvicorn

    from pipeline.web.app import create_app

    config = fast_config()
    archive = build_archive(tmp_path_factory.mktemp("browser"), config)
    app = create_app(archive, config, fsync=False)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the service did not start"
    yield f"http://127.0.0.1:{port}", archive, app.state.service
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    os.environ.setdefault("SE_AVOID_STATS", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio",
                "--autoplay-policy=no-user-gesture-required", "--window-size=1300,1000", "--lang=zh-CN",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=DriverService(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _sign_in(driver, base: str, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(base + "/login")
    driver.find_element(By.ID, "user").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    assert _element(driver, "#signed-in-as").text.endswith(f"({name})")


def _element(driver, css: str, timeout: float = 20.0):
    """The element once the page that has it has loaded (a click navigates asynchronously)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))


def _wait(driver, script: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}")


def test_officer_asks_approver_grants_officer_watches_explains_and_is_refused_the_rest(served, browser, tmp_path):
    from selenium.webdriver.common.by import By

    base, archive, service = served
    driver = browser
    wanted = recording_of(archive, "BWC101")            # officer OF17 = pc.li
    other = recording_of(archive, "BWC103")
    gap = gap_of(archive, "BWC101")

    # 1. The officer asks to view the recording.
    _sign_in(driver, base, "pc.li")
    driver.get(f"{base}/recordings/{wanted['sha256']}")
    assert driver.find_elements(By.ID, "no-grant") and not driver.find_elements(By.ID, "player")
    driver.find_element(By.ID, "ask-reason").send_keys("复核执法过程 / review of the stop")
    driver.find_element(By.ID, "ask").click()
    assert _element(driver, "#request-state").text == "pending"
    request_id = driver.current_url.rsplit("/", 1)[-1]
    assert request_id.startswith("REQ-")

    # 2. An approver grants it (until tomorrow, the form's default).
    _sign_in(driver, base, "sgt.wang")
    driver.get(base + "/requests")
    driver.find_element(By.CSS_SELECTOR, f"#pending a[href='/requests/{request_id}']").click()
    _element(driver, "#grant").click()
    _wait(driver, "const s = document.getElementById('request-state'); return s && s.textContent === 'granted'")

    # 3. The officer plays the proxy: its time advances; a keyframe click seeks it.
    _sign_in(driver, base, "pc.li")
    driver.get(f"{base}/recordings/{wanted['sha256']}")
    assert request_id in driver.find_element(By.ID, "grant-note").text
    driver.execute_script("const v = document.getElementById('player'); v.muted = true; v.play();")
    _wait(driver, "return document.getElementById('player').currentTime > 0.5")
    driver.execute_script("const v = document.getElementById('player'); v.pause(); v.currentTime = 0.2;")
    _wait(driver, "const v = document.getElementById('player'); return !v.seeking && Math.abs(v.currentTime - 0.2) < 0.05")
    thumbs = driver.find_elements(By.CSS_SELECTOR, "#keyframes img")
    assert thumbs, "no keyframe strip"
    _wait(driver, "return [...document.querySelectorAll('#keyframes img')].every(i => i.complete && i.naturalWidth > 0)")
    thumbs[-1].click()
    target = float(thumbs[-1].get_attribute("data-t"))
    _wait(driver, f"const v = document.getElementById('player'); return Math.abs(v.currentTime - {target}) < 0.6")

    # 4. The officer explains the interruption before that recording, with a written statement.
    statement = tmp_path / "statement.txt"
    statement.write_text("本人于换电池时停止录像。Battery swap at the van.\n", encoding="utf-8")
    driver.get(base + "/gaps?mine=1")
    driver.find_element(By.CSS_SELECTOR, f"a.gap-link[href='/gaps/{gap['gap_id']}']").click()
    _element(driver, "#reason").send_keys("更换电池 battery swap")
    driver.find_element(By.ID, "statement").send_keys(str(statement))
    driver.find_element(By.ID, "explain").click()
    assert _element(driver, "#explanations a.statement").text == "statement.txt"
    assert driver.find_element(By.ID, "gap-state").text == "awaiting approval"

    # 5. Without a grant the officer is refused another recording's pictures and sound.
    driver.get(f"{base}/recordings/{other['sha256']}")
    assert driver.find_elements(By.ID, "no-grant") and not driver.find_elements(By.ID, "player")
    driver.get(f"{base}/recordings/{other['sha256']}/proxy")
    assert "no current grant" in driver.find_element(By.ID, "error-message").text
    driver.get(f"{base}/recordings/{other['sha256']}/thumbnails/0")
    assert "no current grant" in driver.find_element(By.ID, "error-message").text

    # 6. The auditor sees exactly those accesses, under the officer's name and the grant.
    _sign_in(driver, base, "audit.chen")
    driver.get(base + "/audit")
    cells = [(r.find_element(By.CSS_SELECTOR, ".who").text, r.find_element(By.CSS_SELECTOR, ".sha").text,
              r.find_element(By.CSS_SELECTOR, ".grant").text, r.find_element(By.CSS_SELECTOR, ".content").text)
             for r in driver.find_elements(By.CSS_SELECTOR, "#access-log tbody tr") if r.find_elements(By.CSS_SELECTOR, ".who")]
    assert cells and {c[:3] for c in cells} == {("pc.li", wanted["sha256"][:12], request_id)}
    assert {c[3] for c in cells} == {"proxy", "thumbnail"}

    service.outbox.flush(service.config)                 # sealed into the archive, not only spooled
    log = Catalog(archive).rows("access_log")
    assert log and {(r["by"], r["sha256"], r["request_id"], r["action"]) for r in log} == {
        ("pc.li", wanted["sha256"], request_id, "view")}
    assert len(log) == len(cells)
    assert all(r["byte_range"] and r["client"] == "127.0.0.1" for r in log)
    (stmt,) = Catalog(archive).rows("statements")
    assert stmt["uploaded_by"] == "pc.li" and stmt["media_type"] == "text/plain"
    # Kept as an archive object (hashed and sealed like an original), not as bytes inside the catalog.
    assert stmt["content"] is None and (archive / stmt["archive_path"]).read_bytes() == statement.read_bytes()
    assert stmt["archive_path"] in chain.sealed_files(chain.read_manifests(archive)).objects
