"""Validation of a rule's definition, shared by the model (``clean``), the admin form and the API.

``rule_errors(...)`` returns ``{field: [messages]}``: each message names the offending item
("condition 2: unknown operator 'like' …"), so a 400 or an admin form error says what to fix.
"""

from __future__ import annotations

from typing import Any

from .actions import action_errors
from .conditions import RuleValueError, condition_errors
from .strategies import get_strategy

EVENTS = ("model_changed", "provider_updated", "sync_applied", "schedule", "manual")
MAX_CONDITIONS = 50
MAX_ACTIONS = 20


def rule_errors(
    *,
    events: Any,
    strategy: Any,
    strategy_params: Any,
    conditions: Any,
    actions: Any,
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if not isinstance(events, list) or not events:
        add("events", f"Give a non-empty list of events ({', '.join(EVENTS)}).")
    else:
        for event in events:
            if event not in EVENTS:
                add("events", f"Unknown event {event!r} (expected one of {', '.join(EVENTS)}).")
        if len(set(map(str, events))) != len(events):
            add("events", "An event is listed twice.")

    try:
        chosen = get_strategy(strategy) if isinstance(strategy, str) else None
        if chosen is None:
            add("strategy", "Give a strategy name.")
    except RuleValueError as exc:
        chosen = None
        add("strategy", _sentence(str(exc)))
    if chosen is not None:
        _, problems = chosen.clean_params(strategy_params)
        for problem in problems:
            add("strategy_params", _sentence(f"{chosen.name!r}: {problem}"))

    if not isinstance(conditions, list):
        add("conditions", "Give a list of conditions (may be empty).")
    elif len(conditions) > MAX_CONDITIONS:
        add("conditions", f"At most {MAX_CONDITIONS} conditions.")
    else:
        for index, condition in enumerate(conditions, start=1):
            for problem in condition_errors(condition):
                add("conditions", _sentence(f"Condition {index}: {problem}"))

    if not isinstance(actions, list) or not actions:
        add("actions", "Give a non-empty list of actions.")
    elif len(actions) > MAX_ACTIONS:
        add("actions", f"At most {MAX_ACTIONS} actions.")
    else:
        for index, action in enumerate(actions, start=1):
            for problem in action_errors(action):
                add("actions", _sentence(f"Action {index}: {problem}"))
    return errors


def _sentence(text: str) -> str:
    text = text[0].upper() + text[1:] if text else text
    return text if text.endswith(".") else text + "."
