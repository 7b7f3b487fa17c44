"""The whole plugin contract of the gateway.

Every hook starts with ``gateway_``. Built-in plugins (``gateway_plugins.*``)
implement these exactly as third-party plugins do, registered through the
``gateway.plugins`` entry-point group. docs/plugins.md shows each hook with a
working example.

Two kinds of hooks:

* start-up hooks, called once per gateway instance, build registries
  (renderers, transports, sources, clinic settings) and load per-clinic
  mapping data (the only place a plugin may do I/O besides transports and
  sources);
* per-message hooks, called by the pure pipeline. They must not do I/O. An
  exception raised by one implementation becomes an error
  :class:`~gateway.model.Finding` naming the plugin and the hook; the other
  messages go on.

Per-message hooks that return findings may return ``None``, a single
Finding or an iterable of them (a generator is fine: an exception raised
while it is consumed is attributed like any other).

Plugins load lazily: the plugin host reads each module's top-level
``@hookimpl`` functions from its source and imports the module when one of
its hooks is first called (``gateway.plugins``). Besides hooks, a plugin
module may set two attributes the plugin host reads at load time:

* ``GATEWAY_API = ">=1.0,<2"``: the plugin API versions it supports
  (:data:`gateway.API_VERSION`); a plugin whose range excludes this gateway
  is refused with a message naming it, its range and ours;
* ``RULES = Catalogue("name", prefix="ACME")``: its rule catalogue
  (:mod:`gateway.rules`), listed by ``gateway rules``.

The objects plugins register through the start-up hooks follow typed
protocols declared next to this module; the core checks optional
capabilities with ``isinstance`` against them, never by attribute name:

* renderers: :class:`gateway.documents.Renderer`;
* transports: :class:`gateway.transport.Transport`, and
  :class:`gateway.transport.ResponseTransport` (``fetch_responses``,
  ``response_stored``) for one whose settings follow
  :class:`gateway.transport.ResponseSettings` (``responses_path``);
* sources: :class:`gateway.sources.Source`, :class:`gateway.sources.DetailedSource`
  (``detailed_submit``: gets the journal's outcome) and
  :class:`gateway.sources.HttpSource` (``http_paths``: fed by the HTTP listener);
* the store the core hands out (``control_numbers()``, the journal, the
  outbox): :class:`gateway.store.Store`, an abstract class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click
    from pydantic import BaseModel

    from gateway.config import Clinic, ClinicConfig
    from gateway.documents import Renderer
    from gateway.messages import Envelope, MessageMeta, ParseResult, RecordLookup
    from gateway.model import Claim, ClaimAdditions, Encounter, Finding, ResponseBatch, SecondaryBilling, StatementCycle

PROJECT = "gateway"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# --------------------------------------------------------------------------
# start-up hooks


@hookspec
def gateway_register_settings(register: Callable[[str, type[BaseModel]], None]) -> None:
    """Register a per-clinic settings section validated by a pydantic model.

    ``register(section, Model)``: a clinic's ``settings.<section>`` mapping
    in gateway.yaml is validated with ``Model`` (errors name the key path and
    line) and is available to hooks as ``clinic.settings[section]``. Two
    plugins registering one section is a start-up error naming both.
    """


@hookspec
def gateway_register_renderers(register: Callable[[Renderer], None]) -> None:
    """Register renderers: objects with ``name``, ``kind`` ("claims" or
    "statements") and ``render(items, ctx) -> list[Document]``.

    Destinations pick a renderer by name (``format: x12-837p``).
    """


@hookspec
def gateway_register_transports(
    register: Callable[[str, Callable[..., Any], type[BaseModel]], None],
) -> None:
    """Register a transport: ``register(name, factory, SettingsModel)``.

    A destination ``transport: <name>`` has its settings validated with
    ``SettingsModel``; ``factory(settings, base_dir)`` returns an object
    following :class:`gateway.transport.Transport`.
    """


@hookspec
def gateway_register_sources(
    register: Callable[[str, Callable[..., Any], type[BaseModel]], None],
) -> None:
    """Register an inbound source type: ``register(name, factory, SettingsModel)``.

    A clinic's ``sources: [{type: <name>, ...}]`` entries are validated with
    ``SettingsModel``; ``factory(settings, clinic_id, base_dir)`` returns a
    :class:`gateway.sources.Source` the daemon starts.
    """


@hookspec
def gateway_register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``gateway`` command line (a click group)."""


@hookspec
def gateway_load_clinic(clinic: ClinicConfig, base_dir: Path) -> dict[str, Any] | None:
    """Load the mapping data a plugin needs for one clinic (I/O allowed here).

    Return a dict merged into ``clinic.resources`` (key clashes between
    plugins are a start-up error), or ``None``. Relative paths in the clinic
    config are relative to ``base_dir`` (the config file's folder). Raise
    ``gateway.config.ConfigError`` for bad data so the key path is reported.
    """


@hookspec(firstresult=True)
def gateway_statement_terms(clinic: Clinic) -> int | None:
    """Payment terms of a clinic's statements: days from the statement date
    to its due date; stops at the first non-None result.

    Called once per clinic at start-up (the core reads no plugin's settings:
    the statements plugin answers from ``settings.statements.terms_days``).
    When no plugin answers, 30 days.
    """


@hookspec(firstresult=True)
def gateway_statement_cycle(clinic: Clinic) -> StatementCycle | None:
    """A clinic's statement cycle: how often statements go out while a
    balance is due, the small-balance threshold, the dunning wording by age,
    the final notice and when an account goes to collections; stops at the
    first non-None result.

    Called once per clinic when statement cycles run (``gateway statements
    run``, the daemon's daily run; the statements plugin answers from
    ``settings.statements.cycle``). Return a
    :class:`~gateway.model.StatementCycle`. When no plugin answers, every 30
    days, no write-off, no dunning wording, no final notice.
    """


@hookspec(firstresult=True)
def gateway_claim_destination(payer_id: str, clinic: Clinic) -> str | None:
    """The destination (a name under ``destinations:``) for this clinic's
    claims to the payer with X12 id ``payer_id``; stops at the first non-None
    result.

    Called by the batcher (no I/O). ``None`` from every plugin, or a name that
    is not a configured destination, sends the claim to the clinic's
    ``claims_to``. The payers plugin answers from the payer directory.
    """


@hookspec(firstresult=True)
def gateway_secondary_billing(payer_id: str, clinic: Clinic) -> SecondaryBilling | None:
    """How this clinic's claims go to the payer with X12 id ``payer_id`` when
    it is a next payer (secondary, tertiary): :class:`gateway.model.SecondaryBilling`
    (``delay_days``, ``wait_for_crossover``, ``prior_claim_number``); stops at
    the first non-None result.

    Called by the batcher (no I/O) for each next payer's claim waiting to be
    released. ``None`` from every plugin: the defaults (sent at the batcher's next look,
    no 2330B REF*F8). The payers plugin answers from the payer directory's
    ``secondary:``.
    """


# --------------------------------------------------------------------------
# per-message hooks (pure: no I/O)


@hookspec(firstresult=True)
def gateway_sniff(raw: bytes, meta: MessageMeta) -> Envelope | None:
    """Recognise the format of ``raw`` cheaply; stops at the first non-None result.

    Return an :class:`~gateway.messages.Envelope` (format name, sender,
    control id) when this plugin's format is recognised, else ``None``. Must
    not parse more than needed to route and deduplicate.
    """


@hookspec(firstresult=True)
def gateway_parse(
    raw: bytes,
    envelope: Envelope,
    clinic: Clinic,
    records: RecordLookup,
) -> ParseResult | None:
    """Parse a message of ``envelope.format`` into encounters; stops at the
    first non-None result.

    Return ``None`` for formats this plugin does not own. ``records`` gives
    what earlier messages taught (ADT registrations, companion FHIR bundles);
    put what this message teaches into ``ParseResult.updates``. Problems are
    findings with a location (segment and field, JSON path), never exceptions.
    """


@hookspec(firstresult=True)
def gateway_read_responses(raw: bytes, envelope: Envelope) -> ResponseBatch | None:
    """Read a response file (TA1, 999, 277CA, 835) into typed documents;
    stops at the first non-None result.

    Called for every sniffed message before ``gateway_parse``: return
    ``None`` for formats this plugin does not own. The
    :class:`~gateway.model.ResponseBatch` holds the documents in file order
    (one per 999 or 835 transaction set, one per 277CA claim, one per TA1),
    each with its own findings (balancing, bad values) and segment
    positions, and the findings about the file itself (syntax, envelope
    counts). The core routes each document to a clinic by provider ids.
    Never raise on bad input.
    """


@hookspec
def gateway_map_encounter(encounter: Encounter, clinic: Clinic) -> Finding | Iterable[Finding] | None:
    """Enrich an encounter in place from mappings (charge master, code maps,
    payer directory) and return findings."""


@hookspec
def gateway_code_encounter(encounter: Encounter, clinic: Clinic) -> Finding | Iterable[Finding] | None:
    """Check and code diagnoses and procedures of an encounter in place
    (normalise ICD-10-CM, validate CPT/HCPCS) and return findings."""


@hookspec
def gateway_scrub_claim(claim: Claim, clinic: Clinic, meta: MessageMeta) -> Finding | Iterable[Finding] | None:
    """Check a claim against clean-claim rules and return findings; an error
    finding keeps the claim from being sent."""


@hookspec
def gateway_payer_rules(claim: Claim, clinic: Clinic, meta: MessageMeta) -> Finding | Iterable[Finding] | None:
    """Apply payer-specific edits to a claim (in place) and return findings.

    Called for every claim: an implementation checks ``claim.payer.id`` or
    ``claim.coverage.claim_filing_indicator`` and returns ``None`` for
    payers it does not handle. The claim carries what payer edits need
    besides parties and lines: the prior authorization and referral
    (``claim.prior_authorization``, per line too), onset/accident dates,
    related causes, notes and what ``gateway_claim_additions`` added; a
    value the model has no field for reaches it through the inbound
    mapping (the HL7 field map, a Z-segment) into one of those fields.
    """


@hookspec
def gateway_claim_additions(claim: Claim, clinic: Clinic) -> ClaimAdditions | None:
    """Add payer-required values to a claim's 837P, typed: never segment text.

    Return a :class:`~gateway.model.ClaimAdditions` (REF, DTP, NTE and line
    AMT slots whose qualifier enums list what 005010X222A1 allows at claim
    and line level; ``line`` is the 1-based service line, None the claim) or
    ``None``. Called for every claim before the scrubber and payer rules,
    which see the additions on ``claim.additions``; the x12 renderer writes
    each in its loop. Additions of several plugins are merged; two filling
    one slot, or an addition filling a slot the claim's own fields fill
    (``claim.prior_authorization`` is REF*G1), is an error finding.
    """


#: Hooks called once per gateway instance (``gateway_claim_destination`` and
#: ``gateway_secondary_billing``: by the batcher; ``gateway_statement_cycle``: by each statement run).
STARTUP_HOOKS = (
    "gateway_register_settings",
    "gateway_register_renderers",
    "gateway_register_transports",
    "gateway_register_sources",
    "gateway_register_commands",
    "gateway_load_clinic",
    "gateway_statement_terms",
    "gateway_statement_cycle",
    "gateway_claim_destination",
    "gateway_secondary_billing",
)
#: Hooks called by the pure pipeline, per message.
MESSAGE_HOOKS = (
    "gateway_sniff",
    "gateway_read_responses",
    "gateway_parse",
    "gateway_map_encounter",
    "gateway_code_encounter",
    "gateway_scrub_claim",
    "gateway_payer_rules",
    "gateway_claim_additions",
)
