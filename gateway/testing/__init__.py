"""The plugin test kit, installed with the gateway (docs/plugins.md, "Testing").

Its pytest fixtures load automatically wherever the gateway is installed
(entry point ``pytest11``): ``gateway_deployment`` gives a
:class:`Deployment` in a temp folder. Everything else is imported from here::

    from gateway.testing import Hl7Message, assert_finding, build_claim, run_claim, run_one

    def test_prior_auth(gateway_deployment):
        gw = gateway_deployment.gateway(acme_plugin)
        result = run_one(gw, Hl7Message.dft_p03(FT1_25="99215^^C4"))
        assert_finding(result, "ACME-PRIOR-AUTH", severity="error")

Builders make fake people only; :data:`TODAY` is the processing date the
runs use unless told otherwise.
"""

from gateway.testing.apicheck import private_imports
from gateway.testing.builders import SERVICE_DATE, TODAY, build_claim, build_coverage, build_encounter, build_line
from gateway.testing.deployment import Deployment
from gateway.testing.fhir import FhirBundle
from gateway.testing.hl7 import Hl7Message
from gateway.testing.run import (
    RunResult,
    assert_finding,
    assert_no_errors,
    assert_no_finding,
    run_claim,
    run_one,
)

__all__ = [
    "SERVICE_DATE",
    "TODAY",
    "Deployment",
    "FhirBundle",
    "Hl7Message",
    "RunResult",
    "assert_finding",
    "assert_no_errors",
    "assert_no_finding",
    "build_claim",
    "build_coverage",
    "build_encounter",
    "build_line",
    "private_imports",
    "run_claim",
    "run_one",
]
