"""The per-app map of verified tokens (app.security.VerifiedTokens): kept until PyJWT calls them expired."""

from __future__ import annotations

import pytest

from app import security


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(security.time, "time", lambda: now[0])
    return now


def test_claims_are_kept_until_int_exp_plus_leeway(clock):
    tokens = security.VerifiedTokens(8)
    tokens.put(("t", "k"), {"sub": "a", "exp": 1010.9}, leeway=0)
    clock[0] = 1009.99
    assert tokens.get(("t", "k")) == {"sub": "a", "exp": 1010.9}
    clock[0] = 1010.0  # PyJWT: int(1010.9) <= 1010.0 is expired
    assert tokens.get(("t", "k")) is None
    assert len(tokens) == 0


def test_leeway_extends_the_deadline(clock):
    tokens = security.VerifiedTokens(8)
    tokens.put(("t", "k"), {"exp": 1010}, leeway=5)
    clock[0] = 1014.5
    assert tokens.get(("t", "k")) is not None
    clock[0] = 1015.0
    assert tokens.get(("t", "k")) is None


def test_a_token_without_a_numeric_exp_is_not_kept(clock):
    tokens = security.VerifiedTokens(8)
    for claims in ({"sub": "a"}, {"exp": "1010"}, {"exp": True}):
        tokens.put(("t", "k"), claims, leeway=0)
    assert len(tokens) == 0


def test_the_map_is_bounded_and_keys_include_the_key(clock):
    tokens = security.VerifiedTokens(3)
    for i in range(3):
        tokens.put((f"t{i}", "k"), {"exp": 2000}, leeway=0)
    assert tokens.get(("t0", "other")) is None
    tokens.put(("t3", "k"), {"exp": 2000}, leeway=0)  # full: emptied, then kept
    assert len(tokens) == 1
    assert tokens.get(("t3", "k")) is not None


def test_the_caller_cannot_change_the_kept_claims(clock):
    tokens = security.VerifiedTokens(8)
    claims = {"exp": 2000, "sub": "a"}
    tokens.put(("t", "k"), claims, leeway=0)
    claims["sub"] = "b"
    assert tokens.get(("t", "k"))["sub"] == "a"
