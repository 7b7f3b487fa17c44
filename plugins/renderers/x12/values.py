"""X12 element values: the one function every value the 837P renderer writes
goes through (:func:`element_value`).

X12 has no escape mechanism: a separator inside a value splits the element,
and a segment terminator ends the segment, so a ZIP code of
``62701~NM1*ZZ*9`` would add a segment. The rule is simple and does not
depend on the configured delimiters:

- values may hold ASCII letters, digits, spaces and :data:`SAFE_PUNCTUATION`;
- separators are never chosen from those characters (the renderer's
  settings refuse them), so a safe value can never split an element;
- **free text** (names, addresses, descriptions) keeps what it can: accents
  are dropped (``é`` → ``E``), typographic quotes and dashes become ASCII,
  control and invisible format characters are removed, line breaks, tabs and
  every other character (separators, letters with no Latin form) become a
  space, blanks are collapsed, and the value is cut at the element's maximum
  length; :func:`visible_change` says when a person would see the
  difference (the scrubber warns, SCRUB-X12-TEXT);
- **identifiers and codes** (CLM01, member id, NPI, tax id, payer id,
  procedure codes, modifiers, ZIP, state…) are never rewritten: one holding
  any other character, or longer than its element, is refused with
  :class:`X12ValueError` (the scrubber quarantines such claims first,
  SCRUB-X12-ID).
"""

from __future__ import annotations

import re
import string
import unicodedata

#: punctuation a value may hold besides letters, digits and spaces; the
#: renderer's separators must be other characters
SAFE_PUNCTUATION = "&'(),-./#@+_%$=;?\""
SAFE_CHARACTERS = frozenset(string.ascii_letters + string.digits + " " + SAFE_PUNCTUATION)
_all_safe = re.compile("[A-Za-z0-9 " + re.escape(SAFE_PUNCTUATION) + "]*").fullmatch
#: letters and typographic marks with an obvious ASCII form that NFKD leaves alone
_ASCII_FORMS = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2010": "-", "\u2011": "-", "\u2013": "-",
     "\u2014": "-", "\u2212": "-", "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
     "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "ı": "i", "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D"}
)  # fmt: skip


_INVISIBLE = frozenset({"Mn", "Mc", "Me", "Cc", "Cf", "Cn", "Co", "Cs"})


class X12RenderError(ValueError):
    """A claim or configuration that cannot be written as an 837P (says which
    claim and why, never patient data)."""


class X12ValueError(X12RenderError):
    """An identifier or code holds a character no X12 element can carry, or
    is longer than its element: the claim is refused, never rewritten."""


def is_safe(value: str) -> bool:
    """True when every character of ``value`` may appear in an element."""
    return (value.isalnum() and value.isascii()) or _all_safe(value) is not None


def unsafe_reason(value: str, limit: int) -> str | None:
    """Why an identifier cannot be written as it is (no value quoted), or None."""
    value = value.strip()
    if not is_safe(value):
        if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value):
            return "contains a control character"
        if not value.isascii():
            return "contains a character outside the X12 character set"
        return "contains a separator character"
    if len(value) > limit:
        return f"is longer than the {limit} characters its element holds"
    return None


def _fold_char(ch: str) -> str:
    if ch in SAFE_CHARACTERS:
        return ch
    if ch.isspace():
        return " "
    if unicodedata.category(ch)[0] in "CM":  # control, format (zero-width, bidi), combining marks
        return ""
    folded = unicodedata.normalize("NFKD", ch.translate(_ASCII_FORMS))
    kept = "".join(c for c in folded if c in SAFE_CHARACTERS)
    return kept or " "


def clean_text(value: str, limit: int, upper: bool = True) -> str:
    """Free text made safe for an element (see the module docstring)."""
    if not (value.isalnum() and value.isascii()) and _all_safe(value) is None:  # is_safe, inlined (hot path)
        value = "".join(map(_fold_char, value))
    if "  " in value or value.startswith(" ") or value.endswith(" "):
        value = " ".join(value.split())
    if upper:
        value = value.upper()
    return value[:limit].rstrip()


def _display(value: str) -> str:
    """What a person reads: accents, case, blanks and invisible characters aside."""
    value = unicodedata.normalize("NFKD", value.translate(_ASCII_FORMS))
    value = "".join(c for c in value if c.isspace() or unicodedata.category(c) not in _INVISIBLE)
    return " ".join(value.casefold().split())


def visible_change(value: str, limit: int) -> bool:
    """True when writing ``value`` as free text changes what a person sees
    (a separator or a letter with no Latin form replaced, or a cut)."""
    if is_safe(value) and len(value.strip()) <= limit:
        return False
    return _display(value) != _display(clean_text(value, limit))


def element_value(value: str | None, limit: int, *, identifier: bool, upper: bool = True) -> str:
    """THE function for every 837P element value.

    ``identifier`` False: free text, cleaned (:func:`clean_text`).
    ``identifier`` True: returned without surrounding blanks and otherwise
    unchanged, or :class:`X12ValueError` when it is unsafe or too long.
    ``limit`` is the element's maximum length. None or "" gives "".
    """
    if not value:
        return ""
    if not identifier:
        return clean_text(value, limit, upper)
    if len(value) <= limit and ((value.isalnum() and value.isascii()) or _all_safe(value) is not None):
        return value.strip()
    reason = unsafe_reason(value, limit)
    if reason is None:
        return value.strip()
    raise X12ValueError(reason)


# -- maximum lengths of the elements the renderer writes (005010X222A1) -------
ORG_NAME = 60  # NM103 (also a person's last name)
GIVEN_NAME = 35  # NM104
MIDDLE_NAME = 25  # NM105
NAME_SUFFIX = 10  # NM107
ID_CODE = 80  # NM109: NPI, member id, payer id, submitter/receiver id
ADDRESS_LINE = 55  # N301, N302
CITY = 30  # N401
STATE = 2  # N402
POSTAL_CODE = 15  # N403
COUNTRY = 3  # N404
REFERENCE = 50  # REF02 (tax id, original claim, line control number), SBR03 group number, PRV03 taxonomy
GROUP_NAME = 60  # SBR04
CLAIM_ID = 20  # CLM01
CODE = 2  # place of service, claim frequency, filing indicator, modifier
DIAGNOSIS = 30  # HI0n-2
PROCEDURE = 48  # SV101-2
CONTACT = 256  # PER04 e-mail, phone
NOTE = 80  # NTE02
NDC = 48  # LIN03
