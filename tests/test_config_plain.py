"""gateway.yaml read without pydantic's validator (start-up, issue 18):
:func:`gateway.config.plain_model` either declines or makes exactly what
``GatewayConfig.model_validate`` makes (values, types, fields set), and never
accepts what pydantic refuses. Differential over seeded random edits of the
example deployment with every section filled."""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from gateway.config import GatewayConfig, plain_model
from gateway.examples import example_dir

VALUES: list[Any] = [
    0, 1, -1, 7, 1.0, 0.0, 2.5, -0.5, math.inf, math.nan, True, False, None, "", "x", "1", "1.0", "ZZ",
    "1234567893", "123456789", "12345678", "env:X", "file:/a", "env:", "abc\n", "123456789\n", "é",
    "１２３４５６７８９", "a-b_c", "-ab", "A" * 33, [], ["a"], [1], {}, {"a": 1}, {1: "a"}, {"type": "x"}, b"x",
]  # fmt: skip


def full_config() -> dict[str, Any]:
    data = yaml.safe_load((example_dir() / "gateway.yaml").read_text())
    data["max_input_bytes"] = 1000
    data["delivery"] = {"batch_max_age_s": 5, "destinations": {"claims-out": {"max_attempts": 3}}}
    data["console"] = {"tls": {"cert": "c.pem", "key": "k.pem"}, "session_secret": "env:S", "session_idle_minutes": 9}
    data["store"] = {
        "encryption": {"key": "env:K", "key_id": "k1", "previous_keys": [{"key": "file:o", "key_id": "k0"}]}
    }
    data["remittance"] = {"adjustment_codes": "codes.csv"}
    data["clinics"][0]["sources"] = [{"type": "folder", "path": "in", "poll": 5}]
    return data


def differences(a: object, b: object, where: str = "config") -> Iterator[str]:
    if type(a) is not type(b):
        yield f"{where}: {type(a).__name__} vs {type(b).__name__}"
    elif isinstance(a, BaseModel) and isinstance(b, BaseModel):
        if a.model_fields_set != b.model_fields_set or a.model_extra != b.model_extra:
            yield f"{where}: fields set or extra keys differ"
        for name in type(a).model_fields:
            yield from differences(getattr(a, name), getattr(b, name), f"{where}.{name}")
    elif isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            yield f"{where}: keys differ"
        for key in a:
            yield from differences(a[key], b.get(key), f"{where}[{key!r}]")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            yield from differences(x, y, f"{where}[{i}]")
    elif not (a == b or (isinstance(a, float) and math.isnan(a) and isinstance(b, float) and math.isnan(b))):
        yield f"{where}: {a!r} vs {b!r}"


def assert_as_pydantic(data: dict[str, Any]) -> bool:
    """True when the plain reading was used (it matched pydantic's)."""
    plain = plain_model(GatewayConfig, data)
    try:
        validated = GatewayConfig.model_validate(copy.deepcopy(data))
    except ValidationError:
        assert plain is None, "accepted a config pydantic refuses"
        return False
    if plain is None:
        return False
    assert list(differences(plain, validated)) == []
    return True


def test_the_example_deployment_is_read_plainly_as_pydantic_reads_it() -> None:
    assert assert_as_pydantic(yaml.safe_load((example_dir() / "gateway.yaml").read_text()))
    assert assert_as_pydantic(full_config())


def leaves(value: object, path: tuple = ()) -> Iterator[tuple]:
    if path:
        yield path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from leaves(item, (*path, key))


@pytest.mark.parametrize("seed", range(4))
def test_random_edits_are_read_plainly_only_when_pydantic_agrees(seed: int) -> None:
    rnd = random.Random(seed)
    base, used = full_config(), 0
    for _ in range(300):
        data = copy.deepcopy(base)
        for _edit in range(rnd.choice([1, 1, 2, 3])):
            path = rnd.choice(list(leaves(data)))
            parent: Any = data
            for key in path[:-1]:
                parent = parent[key]
            op = rnd.random()
            if op < 0.6:
                parent[path[-1]] = copy.deepcopy(rnd.choice(VALUES))
            elif op < 0.8 and isinstance(parent, dict):
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[rnd.choice(["extra", "pth", "type", "id", 1])] = copy.deepcopy(rnd.choice(VALUES))
        used += assert_as_pydantic(data)
    assert used > 50, "the plain reading was exercised"


def test_a_model_with_validators_of_its_own_is_left_to_pydantic() -> None:
    """A section that grows a ``@field_validator`` or ``@model_validator`` is
    never read plainly: the plain reading would skip the validator."""
    from pydantic import ConfigDict, field_validator, model_validator

    class Upper(BaseModel):
        model_config = ConfigDict(extra="forbid")
        code: str = "a"

        @field_validator("code")
        @classmethod
        def _upper(cls, v: str) -> str:
            return v.upper()

    class Checked(BaseModel):
        model_config = ConfigDict(extra="forbid")
        low: int = 0
        high: int = 1

        @model_validator(mode="after")
        def _ordered(self) -> Checked:
            if self.low > self.high:
                raise ValueError("low > high")
            return self

    class Plain(BaseModel):
        model_config = ConfigDict(extra="forbid")
        code: str = "a"

    assert plain_model(Upper, {"code": "x"}) is None
    assert Upper.model_validate({"code": "x"}).code == "X"
    assert plain_model(Checked, {"low": 5, "high": 1}) is None
    assert plain_model(Plain, {"code": "x"}) == Plain(code="x")
