"""Hand-written response files for the tests (fictitious parties and
people), built without the plugin's own writer so reading is checked
against an independent text.

``envelope`` wraps transaction set bodies in ISA/GS/ST…SE/GE/IEA with
correct counts; the ``*_BODY`` lists are the segments between ST and SE.
"""

from __future__ import annotations

RIVERSIDE_NPI = "1234567893"
RIVERSIDE_TAX_ID = "123456789"
LAKESIDE_NPI = "1987654328"
#: names and ids of the fictitious patients below: never in a finding
PATIENT_TEXT = ("TESTPERSON", "ALMA", "XHP000001001", "PARENTNAME", "KIDDO", "XHP000002002")

GROUPS = {"835": ("HP", "005010X221A1"), "999": ("FA", "005010X231A1"), "277": ("HN", "005010X214")}


def isa(control: int, sender: str = "EXPAYER1", receiver: str = "EXBILL01", component: str = ":") -> str:
    return (
        f"ISA*00*{'':10}*00*{'':10}*ZZ*{sender:<15}*ZZ*{receiver:<15}*261201*0600*^*00501*{control:09d}*0*T*{component}"
    )


def envelope(
    kind: str,
    bodies: list[list[str]],
    control: int = 501,
    sender: str = "EXPAYER1",
    receiver: str = "EXBILL01",
    terminator: str = "~\n",
) -> str:
    """One interchange, one group of ``kind`` (835, 999, 277), one ST…SE per body."""
    gs01, version = GROUPS[kind]
    segments = [isa(control, sender, receiver), f"GS*{gs01}*{sender}*{receiver}*20261201*0600*{control}*X*{version}"]
    for n, body in enumerate(bodies, 1):
        st = f"ST*{kind}*{n:04d}" + ("" if kind == "835" else f"*{version}")
        segments += [st, *body, f"SE*{len(body) + 2}*{n:04d}"]
    segments += [f"GE*{len(bodies)}*{control}", f"IEA*1*{control:09d}"]
    return "".join(s + terminator for s in segments)


# -- 835 -------------------------------------------------------------------------
#: a balanced remit: coinsurance and deductible, a changed procedure (SVC06),
#: a denial with a remark code, a reversal and its correction, two PLB
#: adjustments (interest and an overpayment recovery). BPR02 = 95.40 + 0 −
#: 63 + 72 − (−2.50 + 10) = 96.90.
REMIT_BODY = [
    "BPR*I*96.9*C*ACH*CCP*01*999999992*DA*123456789*1999999999**01*999988880*DA*98765*20261201",
    "TRN*1*EFT0000012345*1999999999",
    "DTM*405*20261130",
    "N1*PR*EXAMPLE HEALTH PLAN",
    "N3*PO BOX 1000",
    "N4*SPRINGFIELD*IL*62701",
    "REF*2U*EXPAYER1",
    "PER*BL*PROVIDER SERVICES*TE*5555550199",
    f"N1*PE*RIVERSIDE FAMILY PRACTICE LLC*XX*{RIVERSIDE_NPI}",
    f"REF*TJ*{RIVERSIDE_TAX_ID}",
    "LX*1",
    "CLP*RIV-1001*1*160.5*95.4*23.85*12*ICN0001*11*1",
    "NM1*QC*1*TESTPERSON*ALMA****MI*XHP000001001",
    "NM1*82*1*EXAMPLE*ROBIN****XX*1543210987",
    "MOA***MA01",
    "DTM*232*20261005",
    "DTM*050*20261020",
    "SVC*HC:99213*125*71.4**1",
    "DTM*472*20261005",
    "CAS*CO*45*35.75",
    "CAS*PR*2*17.85",
    "REF*6R*RIV-1001-1",
    "AMT*B6*89.25",
    "SVC*HC:87880:QW*35.5*24**1*HC:87081",
    "DTM*472*20261005",
    "CAS*CO*45*5.5",
    "CAS*PR*1*4**2*2",
    "REF*6R*RIV-1001-2",
    "LQ*HE*N20",
    "CLP*RIV-2003*4*150*0*0*12*ICN0002",
    "NM1*QC*1*PARENTNAME*KIDDO****MI*XHP000002002",
    "SVC*HC:99392*150*0**1",
    "DTM*150*20261001",
    "DTM*151*20261002",
    "CAS*CO*96*150",
    "LQ*HE*N130",
    "CLP*RIV-1002*22*-90*-63*0*12*ICN0003",
    "CAS*CO*45*-27",
    "NM1*QC*1*TESTPERSON*ALMA****MI*XHP000001001",
    "CLP*RIV-1002*1*90*72*0*12*ICN0004",
    "CAS*CO*45*18",
    "NM1*QC*1*TESTPERSON*ALMA****MI*XHP000001001",
    f"PLB*{RIVERSIDE_NPI}*20261231*L6*-2.5*WO:ICN0009*10",
]


def remit(body: list[str] | None = None, **kw: object) -> str:
    return envelope("835", [body if body is not None else REMIT_BODY], **kw)  # type: ignore[arg-type]


def at(body: list[str], prefix: str, element: int | None = None) -> str:
    """The finding location of the segment starting with ``prefix`` in the
    first transaction set of a file (ISA 1, GS 2, ST 3, the body from 4)."""
    (i,) = [i for i, s in enumerate(body) if s.startswith(prefix)]
    seg_id = body[i].split("*", 1)[0]
    return f"segment {4 + i} ({seg_id}{'' if element is None else f'{element:02d}'})"


def replace(body: list[str], old: str, new: str) -> list[str]:
    """``body`` with the one segment starting with ``old`` replaced by ``new``."""
    hits = [i for i, s in enumerate(body) if s.startswith(old)]
    assert len(hits) == 1, (old, hits)
    return [*body[: hits[0]], new, *body[hits[0] + 1 :]]


# -- 999 -------------------------------------------------------------------------
ACK_BODY = [
    "AK1*HC*1001*005010X222A1",
    "AK2*837*0001*005010X222A1",
    "IK5*A",
    "AK2*837*0002*005010X222A1",
    "IK3*CLM*22*2300*8",
    "CTX*CLM01:RIV-1001",
    "IK4*2*782*1",
    "IK3*REF*57**3",
    "CTX*SITUATIONAL TRIGGER*CLM*43**5:3",
    "IK5*R*5",
    "AK9*P*2*2*1",
]

TA1 = "TA1*000001001*261201*0600*R*022"


# -- 277CA ---------------------------------------------------------------------------
CLAIM_ACK_BODY = [
    "BHT*0085*08*BATCH0001*20261202*0600*TH",
    "HL*1**20*1",
    "NM1*PR*2*EXAMPLE HEALTH PLAN*****PI*EXPAYER1",
    "TRN*1*BATCH0001",
    "DTP*050*D8*20261202",
    "DTP*009*D8*20261202",
    "HL*2*1*21*1",
    "NM1*41*2*EXAMPLE BILLING SERVICES*****46*EXBILL01",
    "TRN*2*BATCH0001",
    "STC*A1:19:PR*20261202*WQ*310.5",
    "QTY*90*1",
    "QTY*AA*1",
    "HL*3*2*19*1",
    f"NM1*85*2*RIVERSIDE FAMILY PRACTICE LLC*****XX*{RIVERSIDE_NPI}",
    "TRN*1*PROV0001",
    "STC*A1:19:PR**WQ*310.5",
    f"REF*TJ*{RIVERSIDE_TAX_ID}",
    "HL*4*3*PT",
    "NM1*QC*1*TESTPERSON*ALMA****MI*XHP000001001",
    "TRN*2*RIV-1001",
    "STC*A2:20*20261202*WQ*160.5",
    "REF*1K*ICN0001",
    "REF*D9*CH000123",
    "DTP*472*RD8*20261005-20261006",
    "SVC*HC:99213*125*****1",
    "STC*A2:20*20261202*U",
    "REF*FJ*RIV-1001-1",
    "DTP*472*D8*20261005",
    "HL*5*3*PT",
    "NM1*QC*1*PARENTNAME*KIDDO****MI*XHP000002002",
    "TRN*2*RIV-2003",
    "STC*A7:164:IL*20261202*WQ*150*******A7:21:IL",
    "DTP*472*D8*20261001",
]
