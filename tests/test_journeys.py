"""User journeys end to end across plugins, as an operator runs them: a real
``gateway run`` process, a watched folder, a real SMTP server (aiosmtpd on
loopback).

HL7 v2 in → statement e-mailed: the address comes from the guarantor's GT1-6
(XTN with use code NET), which wins over the patient's PID-13; FHIR in →
statement e-mailed: from the RelatedPerson guarantor's ``telecom`` (system
``email``). Before the real-senders work no HL7 or FHIR e-mail address was
read, so every e-mailed statement from those formats ended as a dead letter.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from gateway.app import Gateway
from gateway.oneshot import Run
from tests.conftest import FIXTURES, free_port
from tests.delivery_helpers import deployment
from tests.security.daemon import Daemon, wait_for
from tests.statements_pdfcheck import check_statement_pdf
from tests.test_smtp import Inbox

JOURNEYS = [
    # (fixture, the clinic whose folder takes it, the guarantor's address)
    ("hl7v2/dft_p03_v23_email_net.hl7", "lakeside", "parent.vav@example.org"),
    ("fhir/lakeside-guarantor-email.json", "lakeside", "psi.parent@example.org"),
]


@pytest.mark.parametrize(("fixture", "clinic", "address"), JOURNEYS, ids=["hl7v2", "fhir"])
def test_a_visit_in_a_watched_folder_ends_as_a_statement_in_the_guarantors_mailbox(
    tmp_path: Path, fixture: str, clinic: str, address: str
) -> None:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    smtp = {"transport": "smtp", "format": "pdf", "host": "127.0.0.1", "port": port, "security": "none",
            "from_address": "Billing <billing@example.com>", "timeout_s": 5}  # fmt: skip
    sources = {clinic: [{"type": "folder", "path": "inbound", "settle": 0.05}]}
    config = deployment(tmp_path / "dep", destinations={"statements-out": smtp}, sources=sources)
    inbound = tmp_path / "dep" / "inbound"
    inbound.mkdir()
    try:
        with Daemon(config, tmp_path, args=("--workers", "1")) as daemon:
            drop = tmp_path / "drop.tmp"
            drop.write_bytes((FIXTURES / fixture).read_bytes())
            drop.rename(inbound / Path(fixture).name)
            wait_for(lambda: inbox.messages, timeout=60, what="a statement e-mail")
            assert daemon.proc.poll() is None
    finally:
        controller.stop()
    ((recipients, mail),) = inbox.messages
    assert recipients == [address]
    assert address not in mail.get_body(preferencelist=("plain",)).get_content()  # no PHI in the body
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    # the statement the pipeline builds from the same input, read back from the PDF: names, every amount, total
    run = Run(gateway=Gateway.from_config(config), today=date.today(), clinic_id=clinic)
    run.process_bytes((FIXTURES / fixture).read_bytes(), Path(fixture).name)
    (statement,) = run.statements[clinic]
    assert statement.guarantor.email == address and statement.total_due > 0
    check_statement_pdf(attachment.get_content(), statement)
