"""The console in a real browser (headless Chromium via Selenium) against a
running daemon (`gateway run --http`, a worker process, delivery to folders):

* the operator loop: log in, find a quarantined message, fix its clinic's
  charge master, reload, reprocess all of its rule, see it billed and its
  claim in the outbox — no restart;
* a dead letter retried from the outbox page after its destination is fixed;
* a viewer sees no patient names;
* a patient named ``<script>alert(1)</script>`` is shown as text: no dialog.

With GATEWAY_SCREENSHOTS=1 the overview and a message detail are saved to
docs/images/ (how the committed screenshots were made).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from gateway.cli import cli
from gateway.examples import FIXTURES, write_example_deployment
from tests.browser import chromium
from tests.conftest import free_port
from tests.console_helpers import PASSWORD

GATEWAY = [sys.executable, "-c", "from gateway.cli import main; main()"]
IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
GOOD_ROW = "WART-FREEZE,17110,,Wart destruction,150.00,0510,\n"


def write_deployment(root: Path) -> Path:
    config = write_example_deployment(root)
    data = yaml.safe_load(config.read_text())
    data["destinations"]["lake-statements"] = {"transport": "folder", "format": "pdf", "path": "blocked/statements"}
    data["delivery"] = {"batch_max_age_s": 0, "retry_base_s": 0.05, "retry_max_s": 0.1, "max_attempts": 2}
    for clinic in data["clinics"]:
        clinic["sources"] = [{"type": "folder", "path": f"inbound-{clinic['id']}", "settle": 0.05}]
        if clinic["id"] == "lakeside":
            clinic["statements_to"] = "lake-statements"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    for clinic in ("riverside", "lakeside"):
        (root / f"inbound-{clinic}").mkdir()
    (root / "blocked").write_text("a file where a folder should be: delivery fails\n")
    return config


def add_user(config: Path, name: str, role: str, *clinics: str) -> None:
    args = ["users", "add", name, "--config", str(config), "--role", role, "--password-stdin"]
    for c in clinics:
        args += ["--clinic", c]
    out = CliRunner().invoke(cli, args, input=PASSWORD + "\n")
    assert out.exit_code == 0, out.output


class Running:
    def __init__(self, config: Path) -> None:
        self.port = free_port()
        self.base = f"http://localhost:{self.port}"
        sock = config.parent / "notify.sock"
        self.ready = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.ready.bind(str(sock))
        self.ready.settimeout(60)
        cmd = [*GATEWAY, "run", "--config", str(config), "--workers", "1", "--http", f"127.0.0.1:{self.port}"]
        self.proc = subprocess.Popen(cmd, env={**os.environ, "NOTIFY_SOCKET": str(sock)}, stderr=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL)  # fmt: skip
        assert self.ready.recv(200).startswith(b"READY=1")
        self.pid = self.proc.pid

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=60)
        self.ready.close()
        return err.decode()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("browser") / "d"
    config = write_deployment(root)
    add_user(config, "olivia", "operator", "riverside", "lakeside")
    add_user(config, "victor", "viewer", "riverside", "lakeside")
    daemon = Running(config)
    with chromium() as driver:
        yield driver, daemon, config
    err = daemon.stop()
    assert daemon.proc.returncode == 0
    assert "Testperson" not in err and "Sampleton" not in err  # no patient data in the logs


def login(driver, base: str, user: str) -> None:
    driver.delete_all_cookies()
    driver.get(base + "/ui/")
    WebDriverWait(driver, 20).until(EC.url_contains("/ui/login"))
    driver.find_element(By.NAME, "username").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    WebDriverWait(driver, 20).until(EC.presence_of_element_located((By.CSS_SELECTOR, "header.top")))


def until_text(driver, url: str, text: str, timeout: float = 45) -> str:
    """Reload ``url`` until its page shows ``text``."""
    deadline = time.time() + timeout
    while True:
        driver.get(url)
        body = driver.find_element(By.TAG_NAME, "body").text
        if text in body:
            return body
        if time.time() > deadline:
            raise AssertionError(f"{url} never showed {text!r}; last page:\n{body[:2000]}")
        time.sleep(0.5)


def shows(driver, text: str, timeout: float = 20) -> None:
    """Wait until the page (the one a click led to) shows ``text``."""
    WebDriverWait(driver, timeout).until(EC.text_to_be_present_in_element((By.TAG_NAME, "body"), text))


def drop(config: Path, clinic: str, name: str, data: bytes) -> None:
    tmp = config.parent / f".{name}.part"
    tmp.write_bytes(data)
    tmp.rename(config.parent / f"inbound-{clinic}" / name)


def test_operator_fixes_reloads_and_reprocesses_in_the_browser(site) -> None:
    driver, daemon, config = site
    visit = (
        (FIXTURES / "encounters" / "riverside-local-codes.json").read_bytes().replace(b'"INJ-B12"', b'"WART-FREEZE"')
    )
    drop(config, "riverside", "visit.json", visit)
    drop(config, "riverside", "insured.json", (FIXTURES / "encounters" / "riverside-insured.json").read_bytes())
    login(driver, daemon.base, "olivia")
    body = until_text(driver, daemon.base + "/ui/quarantine", "CM-UNKNOWN")
    assert "riverside" in body
    row = driver.find_element(By.XPATH, "//tr[td/span[text()='CM-UNKNOWN']]")
    row.find_element(By.LINK_TEXT, "show").click()
    WebDriverWait(driver, 20).until(EC.url_contains("rule=CM-UNKNOWN"))
    driver.find_element(By.CSS_SELECTOR, "table.list tbody tr td a").click()
    shows(driver, "encounter.service_lines[3].local_code")
    assert "quarantined" in driver.find_element(By.TAG_NAME, "body").text
    message_url = driver.current_url
    screenshot(driver, "console-message.png", 1180)

    # the operator fixes the clinic's charge master on the server, then reloads from the console
    chargemaster = config.parent / "chargemaster.csv"
    chargemaster.write_text(chargemaster.read_text() + GOOD_ROW)
    driver.get(daemon.base + "/ui/config")
    driver.find_element(By.XPATH, "//button[text()='Reload configuration']").click()
    shows(driver, "Reloaded: generation 1")

    # reprocess all of the rule, after seeing how many
    driver.get(daemon.base + "/ui/quarantine")
    driver.find_element(By.XPATH, "//tr[td/span[text()='CM-UNKNOWN']]").find_element(
        By.PARTIAL_LINK_TEXT, "reprocess"
    ).click()
    shows(driver, "1 quarantined message(s) of clinic riverside")
    driver.find_element(By.XPATH, "//button[starts-with(text(), 'Reprocess 1')]").click()
    shows(driver, "1 message(s) of riverside with CM-UNKNOWN queued")

    # billed, and its claim in the outbox: without a restart of the daemon
    body = until_text(driver, message_url, "delivered")
    assert "V10101" in body and "CM-UNKNOWN" not in body.split("Audit trail")[0]
    driver.get(daemon.base + "/ui/claims?clinic=riverside")
    driver.find_element(By.LINK_TEXT, "V10101").click()
    shows(driver, "Outbox document")
    claim = driver.find_element(By.TAG_NAME, "body").text
    assert "Outbox document" in claim and ".x12" in claim and "delivered" in claim
    driver.find_element(By.CSS_SELECTOR, "#timeline")  # where the lifecycle goes once remittance lands
    assert daemon.proc.poll() is None and daemon.proc.pid == daemon.pid


def test_a_dead_letter_is_retried_from_the_outbox_page(site) -> None:
    driver, daemon, config = site
    drop(config, "lakeside", "selfpay.json", (FIXTURES / "encounters" / "lakeside-selfpay.json").read_bytes())
    login(driver, daemon.base, "olivia")
    until_text(driver, daemon.base + "/ui/outbox?status=dead", "cannot write to")
    (config.parent / "blocked").unlink()  # the operator fixes the destination
    driver.find_element(By.XPATH, "//button[text()='Retry']").click()
    WebDriverWait(driver, 20).until(EC.url_contains("status=pending"))
    body = until_text(driver, daemon.base + "/ui/outbox?status=delivered", "lake-statements")
    assert "dead" not in driver.find_element(By.CSS_SELECTOR, "table.list").text
    assert "lakeside-statement-" in body
    deadline = time.time() + 10
    while not list((config.parent / "blocked" / "statements").glob("*.pdf")):
        assert time.time() < deadline, "the retried statement never reached its folder"
        time.sleep(0.2)


def test_a_viewer_sees_no_names(site) -> None:
    driver, daemon, _config = site
    login(driver, daemon.base, "victor")
    driver.get(daemon.base + "/ui/messages?clinic=riverside")
    links = [
        a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "table.list tbody td:first-child a")
    ]
    assert links
    claims = []
    for href in links:
        driver.get(href)
        page = driver.page_source
        assert "Testperson" not in page and "Dummyfield" not in page and "[redacted]" in page
        assert "Raw message" not in page and "Reprocess" not in page
        claims += [a.get_attribute("href") for a in driver.find_elements(By.PARTIAL_LINK_TEXT, "claims of this clinic")]
    driver.get(daemon.base + "/ui/claims")
    for a in [
        a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "table.list tbody td:first-child a")
    ]:
        driver.get(a)
        assert "Testperson" not in driver.page_source and "Dummyfield" not in driver.page_source


def test_a_script_in_a_patient_name_is_shown_not_run(site) -> None:
    driver, daemon, config = site
    doc = json.loads((FIXTURES / "encounters" / "riverside-insured.json").read_text())
    doc["encounters"][0]["id"] = "V-XSS-1"
    doc["encounters"][0]["patient"]["name"]["family"] = "<script>alert(1)</script>"
    drop(config, "riverside", "xss.json", json.dumps(doc).encode())
    login(driver, daemon.base, "olivia")
    deadline = time.time() + 45
    while True:
        driver.get(daemon.base + "/ui/messages?clinic=riverside")
        rows = driver.find_elements(By.CSS_SELECTOR, "table.list tbody td:first-child a")
        hrefs = [a.get_attribute("href") for a in rows]
        found = None
        for h in hrefs:
            driver.get(h)
            if "V-XSS-1" in driver.find_element(By.TAG_NAME, "body").text:
                found = h
                break
        if found or time.time() > deadline:
            break
        time.sleep(0.5)
    assert found, "the message with the script name was not processed"
    assert "<script>alert(1)</script>" in driver.find_element(By.TAG_NAME, "body").text  # shown as text
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018
    assert driver.execute_script("return document.scripts.length") == 0
    driver.get(daemon.base + "/ui/")  # both clinics have traffic by now
    screenshot(driver, "console-overview.png", 760)


def test_the_payers_answers_show_on_the_claim_page(site, tmp_path: Path) -> None:
    """After the loop: the payer simulator answers the claim files the
    daemon delivered; the answers, dropped into the clinic's watched folder,
    are posted, and the claim page shows the timeline and the ledger."""
    from gateway_plugins.inbound.x12_responses.simulate import simulate_payer

    driver, daemon, config = site
    sent = sorted((config.parent / "outbox" / "claims").glob("*.x12"))
    assert sent, "the first test delivered no claim file"
    sim = simulate_payer(sent, tmp_path / "answers", seed=3)
    for name in sim.files:
        drop(config, "riverside", name, (tmp_path / "answers" / name).read_bytes())
    paid = {c.claim_id: c for r in sim.remits for c in r.claims if c.status == "1"}
    claim_id = sorted(paid)[0]
    login(driver, daemon.base, "olivia")
    driver.get(daemon.base + "/ui/claims?clinic=riverside")
    driver.find_element(By.LINK_TEXT, claim_id).click()
    claim_url = driver.current_url
    body = until_text(driver, claim_url, "claim total")
    ledger = driver.find_element(By.CSS_SELECTOR, "#ledger").text
    assert "payer payment" in ledger and f"paid {paid[claim_id].paid:.2f}" in ledger
    assert "balance 0.00" in ledger.split("claim total")[1]
    timeline = driver.find_element(By.CSS_SELECTOR, "#timeline").text
    assert "acknowledged_277" in timeline and "closed" in timeline
    assert "Testperson" not in timeline + ledger and body
    driver.execute_script("document.getElementById('timeline').scrollIntoView()")
    screenshot(driver, "console-claim.png", 1100)


def screenshot(driver, name: str, height: int) -> None:
    """With GATEWAY_SCREENSHOTS=1: save the page to docs/images/NAME."""
    if os.environ.get("GATEWAY_SCREENSHOTS"):
        driver.set_window_size(1360, height)
        driver.save_screenshot(str(IMAGES / name))
        driver.set_window_size(1360, 900)
