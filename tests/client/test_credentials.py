"""The one credential-cache format (client/credentials.py), shared by the CLI and the worker agent."""

from __future__ import annotations

import json
import stat

import pytest

from client.credentials import Credential, CredentialCache

A, B = "http://coord-a:5000", "http://coord-b:5000"


def test_the_file_is_the_documented_json_with_mode_0600(tmp_path):
    cache = CredentialCache(tmp_path / "sub" / "credentials")
    cache.save(Credential("alice", "t1", A))
    cache.save(Credential("bob", "t2", B))
    assert json.loads(cache.path.read_text()) == {
        "users": [
            {"username": "alice", "token": "t1", "coordinator": A},
            {"username": "bob", "token": "t2", "coordinator": B},
        ]
    }
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600


def test_find_by_user_and_coordinator(tmp_path):
    cache = CredentialCache(tmp_path / "credentials")
    cache.save(Credential("alice", "t1", A))
    cache.save(Credential("bob", "t2", B))
    assert cache.find().username == "alice"  # the first entry is the default user
    assert cache.find("bob").token == "t2"
    assert cache.find("bob", B + "/").token == "t2"  # a trailing slash names the same coordinator
    assert cache.find("bob", A) is None  # cached for another coordinator
    assert cache.find(None, B) is None  # the default user is alice, cached for A
    assert cache.find("carol") is None


def test_saving_a_user_again_replaces_the_entry_in_place(tmp_path):
    cache = CredentialCache(tmp_path / "credentials")
    cache.save(Credential("alice", "old", A))
    cache.save(Credential("bob", "t2", A))
    cache.save(Credential("alice", "new", B))
    assert cache.load() == [Credential("alice", "new", B), Credential("bob", "t2", A)]
    assert cache.remove("alice") is True and cache.remove("alice") is False
    assert cache.load() == [Credential("bob", "t2", A)]


def test_the_agents_former_cache_is_read_and_rewritten_in_this_format(tmp_path):
    path = tmp_path / "worker-credentials.json"
    path.write_text(json.dumps({f"{A}|alice": "ta", f"{B}|bob": "tb", "junk": 3}))
    cache = CredentialCache(path)
    assert cache.find("alice", A).token == "ta"
    assert cache.find("bob", B).token == "tb"
    cache.save(Credential("carol", "tc", A))
    assert json.loads(path.read_text())["users"] == [
        {"username": "alice", "token": "ta", "coordinator": A},
        {"username": "bob", "token": "tb", "coordinator": B},
        {"username": "carol", "token": "tc", "coordinator": A},
    ]


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"users": [{"name": "x"}]}'])
def test_a_malformed_file_counts_as_empty(tmp_path, text):
    path = tmp_path / "credentials"
    path.write_text(text)
    assert CredentialCache(path).load() == []
