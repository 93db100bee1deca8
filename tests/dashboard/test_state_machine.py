"""The case state machine: allowed and refused transitions, by state and role."""

import pytest

from aggregator.dashboard.cases import allowed_actions, mask_phone, next_state
from aggregator.errors import BadRequest, Forbidden


@pytest.mark.parametrize("state, action, role, expected", [
    ("new", "verify", "unit_manager", "verified"),
    ("verified", "rectify", "unit_manager", "rectifying"),
    ("rectifying", "answer", "unit_manager", "answered"),
    ("answered", "close", "unit_manager", "closed"),
    ("answered", "reopen", "supervisor", "rectifying"),
    ("new", "appeal", "unit_manager", "appealed"),
    ("rectifying", "appeal", "unit_manager", "appealed"),
    ("appealed", "accept_appeal", "supervisor", "closed"),
    ("appealed", "accept_appeal", "admin", "closed"),
    ("appealed", "reject_appeal", "supervisor", "appealed"),  # the caller restores appeal_from
])
def test_allowed_transitions(state, action, role, expected):
    assert next_state(state, action, role) == expected


@pytest.mark.parametrize("state, action", [
    ("new", "close"), ("new", "answer"), ("new", "rectify"), ("verified", "answer"),
    ("closed", "verify"), ("closed", "appeal"), ("closed", "reopen"), ("answered", "appeal"),
    ("appealed", "verify"), ("appealed", "close"), ("rectifying", "close"),
])
def test_refused_transitions(state, action):
    with pytest.raises(BadRequest, match=f"cannot {action}"):
        next_state(state, action, "admin")


@pytest.mark.parametrize("action, role", [
    ("accept_appeal", "unit_manager"),  # a unit never judges its own appeal
    ("reject_appeal", "unit_manager"),
    ("verify", "viewer"),
    ("close", "viewer"),
])
def test_roles_refused(action, role):
    state = "appealed" if "appeal" in action else ("answered" if action == "close" else "new")
    with pytest.raises(Forbidden):
        next_state(state, action, role)


def test_only_a_case_closed_by_an_accepted_appeal_can_have_it_revoked():
    assert next_state("closed", "revoke_appeal", "supervisor", "invalid") == "closed"  # the
    # caller restores appeal_from
    with pytest.raises(BadRequest, match="closed as resolved"):
        next_state("closed", "revoke_appeal", "admin", "resolved")
    with pytest.raises(Forbidden):
        next_state("closed", "revoke_appeal", "unit_manager", "invalid")
    assert allowed_actions("closed", "admin", "resolved") == []


def test_unknown_action_is_a_bad_request():
    with pytest.raises(BadRequest, match="unknown action"):
        next_state("new", "delete", "admin")


def test_allowed_actions_by_role():
    assert allowed_actions("new", "unit_manager") == ["verify", "appeal"]
    assert allowed_actions("appealed", "unit_manager") == []
    assert allowed_actions("appealed", "supervisor") == ["accept_appeal", "reject_appeal"]
    assert allowed_actions("new", "viewer") == []
    assert allowed_actions("closed", "admin") == []


@pytest.mark.parametrize("phone, masked", [
    ("13812341234", "138****1234"), ("138 1234 1234", "138****1234"),
    ("02512345678", "025****5678"), ("12345", "*****"), (None, None), ("", ""),
])
def test_mask_phone(phone, masked):
    assert mask_phone(phone) == masked
