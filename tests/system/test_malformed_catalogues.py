"""Malformed catalogue files through ``manage.py import_catalog``: a clear error, and nothing imported.

A corpus generated into temporary files (nothing large is committed): truncated JSON, the wrong
top-level type, entries with the wrong type in every mapped field, a 1 MB name, 10,000 levels of
nesting, a 10 MB file, duplicate keys, non-UTF-8 bytes, a BOM, ``NaN`` / ``Infinity``, an empty
file — for the LiteLLM and the OpenRouter format. The database already holds a known catalogue
(the LiteLLM oddities and OpenRouter fixtures). For each file:

- a file refused as a whole raises ``CommandError`` whose message names the problem, and the
  database is exactly as before (models, revisions, versions, history rows);
- a file with bad entries imports the good ones and reports every bad one, with its id and reason,
  on stderr (``error: <id>: <reason>``); the bad ones are not imported and the models that were
  there before are untouched.

Each case runs in a savepoint rolled back afterwards, so the cases do not see each other's imports.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import override_settings

from models_registry.models import AIModel, Provider
from versioning.models import ModelVersion

pytestmark = [pytest.mark.system, pytest.mark.postgres, pytest.mark.django_db]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "catalogs"
MB = 1024 * 1024


@dataclass
class Case:
    name: str
    fmt: str
    content: bytes
    # refused as a whole: every substring must be in the CommandError's message
    refused: tuple[str, ...] = ()
    # imported in part: keys that must be created; entry ids that must be reported (kind, words)
    created: tuple[str, ...] = ()
    reported: dict[str, tuple[str, str]] = field(default_factory=dict)


def _json(data) -> bytes:
    return json.dumps(data).encode()


# -- LiteLLM corpus --------------------------------------------------------------------------------

GOOD = {
    "litellm_provider": "acme",
    "mode": "chat",
    "max_input_tokens": 8192,
    "max_output_tokens": 1024,
    "input_cost_per_token": 1e-06,
    "output_cost_per_token": 2e-06,
    "supports_vision": True,
}
# one bad value per mapped field (entry id → (field, value, words the reason must contain))
LITELLM_BAD_VALUES = {
    "bad-context-str": ("max_input_tokens", "lots", "max_input_tokens"),
    "bad-context-list": ("max_input_tokens", [8192], "max_input_tokens"),
    "bad-context-negative": ("max_input_tokens", -5, "max_input_tokens"),
    "bad-context-bool": ("max_input_tokens", True, "max_input_tokens"),
    "bad-max-tokens": ("max_tokens", {"n": 1}, "max_tokens"),
    "bad-output-tokens": ("max_output_tokens", "many", "max_output_tokens"),
    "bad-input-price": ("input_cost_per_token", "free", "input_cost_per_token"),
    "bad-input-price-negative": ("input_cost_per_token", -1, "input_cost_per_token"),
    "bad-input-price-huge": ("input_cost_per_token", 1e300, "input_cost_per_token"),
    "bad-output-price": ("output_cost_per_token", [], "output_cost_per_token"),
    "bad-supports-vision": ("supports_vision", "yes", "supports_vision"),
    "bad-supports-tools": ("supports_function_calling", 3, "supports_function_calling"),
    "bad-supports-streaming": ("supports_streaming", [], "supports_streaming"),
    "bad-mode": ("mode", 5, "mode"),
    "bad-mode-long": ("mode", "x" * 200, "mode"),
}
# reported but handled as documented: a non-slug provider marks a non-model record (skipped); a
# date that is not a date is dropped with a warning (the entry is imported)
LITELLM_OTHER = {
    "bad-provider-type": ("litellm_provider", 7, "skipped", "litellm_provider"),
    "bad-provider-slug": ("litellm_provider", "acme corp!", "skipped", "litellm_provider"),
    "bad-deprecation": ("deprecation_date", "next tuesday", "warning", "deprecation_date"),
}


def _litellm_entries() -> dict:
    entries = {f"acme/good-{i}": dict(GOOD) for i in range(3)}
    for entry_id, (name, value, _) in LITELLM_BAD_VALUES.items():
        entries[f"acme/{entry_id}"] = {**GOOD, name: value}
    for entry_id, (name, value, _, _) in LITELLM_OTHER.items():
        entries[f"acme/{entry_id}"] = {**GOOD, name: value}
    # max_tokens is read only when there is no max_input_tokens
    entries["acme/bad-max-tokens"] = {
        k: v for k, v in {**GOOD, "max_tokens": {"n": 1}}.items() if k != "max_input_tokens"
    }
    return entries


def litellm_corpus() -> list[Case]:
    good = _json({f"acme/good-{i}": GOOD for i in range(3)})
    valid_keys = tuple(f"acme/good-{i}" for i in range(3))
    deep = "[" * 10_000 + "]" * 10_000
    cases = [
        Case("empty", "litellm", b"", refused=("empty", "nothing was imported")),
        Case("whitespace only", "litellm", b" \n\t ", refused=("empty",)),
        Case("truncated", "litellm", good[: len(good) // 2], refused=("not valid JSON", "truncated")),
        Case(
            "truncated mid-string", "litellm", good[: good.index(b"acme/good-1") + 4], refused=("truncated",)
        ),
        Case("top-level list", "litellm", _json([GOOD]), refused=("top level is a JSON list",)),
        Case("top-level string", "litellm", _json("acme"), refused=("top level is a JSON str",)),
        Case("top-level number", "litellm", b"42", refused=("top level",)),
        Case("top-level null", "litellm", b"null", refused=("top level",)),
        Case("no entry is a model", "litellm", _json({"a": {"x": 1}}), refused=("litellm_provider",)),
        Case("openrouter given as litellm", "litellm", _json({"data": []}), refused=("--format openrouter",)),
        Case("NaN", "litellm", good.replace(b"1e-06", b"NaN", 1), refused=("NaN",)),
        Case("Infinity", "litellm", good.replace(b"1e-06", b"Infinity", 1), refused=("Infinity",)),
        Case("-Infinity", "litellm", good.replace(b"1e-06", b"-Infinity", 1), refused=("Infinity",)),
        Case(
            "non-UTF-8",
            "litellm",
            good.replace(b"acme/good-1", b"acme/g\xffod-1"),
            refused=("not UTF-8", "0xff"),
        ),
        Case("latin-1 text", "litellm", '{"acme/caf\u00e9": 1}'.encode("latin-1"), refused=("not UTF-8",)),
        Case("UTF-16", "litellm", good.decode().encode("utf-16"), refused=("not UTF-8",)),
        Case("nested 10,000 levels", "litellm", deep.encode(), refused=("not valid JSON",)),
        Case(
            "nested 10,000 levels inside an entry",
            "litellm",
            b'{"acme/deep": {"litellm_provider": "acme", "x": ' + deep.encode() + b"}}",
            refused=("not valid JSON",),
        ),
        Case(
            "nested 300 levels inside an entry (parses; deeper than orjson's limit)",
            "litellm",
            _json({"acme/good-0": GOOD, "acme/deep": {**GOOD, "x": json.loads("[" * 300 + "]" * 300)}}),
            created=("acme/good-0",),
        ),
        Case("BOM", "litellm", b"\xef\xbb\xbf" + good, created=valid_keys),
        Case(
            "duplicate ids and fields",
            "litellm",
            b'{"acme/good-0": {"litellm_provider": "acme", "mode": "chat"}, '
            b'"acme/good-0": {"litellm_provider": "acme", "mode": "chat", "mode": "embedding"}}',
            created=("acme/good-0",),
            reported={"acme/good-0": ("duplicate", "2 times")},
        ),
        Case(
            "wrong types in every mapped field",
            "litellm",
            _json(_litellm_entries()),
            created=valid_keys,
            reported={
                **{
                    f"acme/{entry_id}": ("error", words)
                    for entry_id, (_, _, words) in LITELLM_BAD_VALUES.items()
                },
                **{
                    f"acme/{entry_id}": (kind, words)
                    for entry_id, (_, _, kind, words) in LITELLM_OTHER.items()
                },
            },
        ),
        Case(
            "entries that are not objects",
            "litellm",
            _json({"acme/good-0": GOOD, "acme/a-list": [1, 2], "acme/a-string": "gpt", "acme/null": None}),
            created=("acme/good-0",),
            reported={
                "acme/a-list": ("skipped", "list"),
                "acme/a-string": ("skipped", "str"),
                "acme/null": ("skipped", "NoneType"),
            },
        ),
        Case(
            "1 MB model name",
            "litellm",
            _json({"acme/good-0": GOOD, "acme/" + "n" * MB: GOOD}),
            created=("acme/good-0",),
            reported={"acme/" + "n" * MB: ("error", "")},
        ),
        Case(
            "1 MB description-like strings",
            "litellm",
            _json({"acme/good-0": GOOD, "acme/huge-mode": {**GOOD, "mode": "m" * MB}}),
            created=("acme/good-0",),
            reported={"acme/huge-mode": ("error", "mode")},
        ),
        Case(
            "10 MB file",
            "litellm",
            _json({"acme/good-0": GOOD, "sample_spec": {"note": "x" * (10 * MB)}}),
            created=("acme/good-0",),
            reported={"sample_spec": ("skipped", "")},
        ),
    ]
    return cases


# -- OpenRouter corpus -----------------------------------------------------------------------------

OR_GOOD = {
    "id": "acme/good",
    "name": "Acme: Good",
    "description": "fine",
    "context_length": 8192,
    "pricing": {"prompt": "0.000001", "completion": "0.000002"},
    "top_provider": {"max_completion_tokens": 1024},
    "supported_parameters": ["tools"],
    "architecture": {"input_modalities": ["text"]},
}
OR_BAD_VALUES = {
    "bad-context": ("context_length", "big", "context_length"),
    "bad-context-negative": ("context_length", -1, "context_length"),
    "bad-pricing-type": ("pricing", "cheap", "pricing"),
    "bad-prompt-price": ("pricing", {"prompt": "free", "completion": "0"}, "prompt"),
    "bad-completion-price": ("pricing", {"prompt": "0", "completion": [1]}, "completion"),
    "bad-supported-params": ("supported_parameters", "tools", "supported_parameters"),
    "bad-top-provider": ("top_provider", {"max_completion_tokens": "lots"}, "max_completion_tokens"),
}


def openrouter_corpus() -> list[Case]:
    good_items = [{**OR_GOOD, "id": f"acme/good-{i}"} for i in range(3)]
    good = _json({"data": good_items})
    valid_keys = tuple(f"openrouter/acme/good-{i}" for i in range(3))
    bad_items = [
        {**OR_GOOD, "id": f"acme/{entry_id}", name: value}
        for entry_id, (name, value, _) in OR_BAD_VALUES.items()
    ]
    bad_items.append({**OR_GOOD, "id": "acme/bad-expiration", "expiration_date": "soon"})
    return [
        Case("empty", "openrouter", b"", refused=("empty",)),
        Case("truncated", "openrouter", good[: len(good) // 2], refused=("not valid JSON", "truncated")),
        Case("top-level list", "openrouter", _json(good_items), refused=("OpenRouter",)),
        Case("data not a list", "openrouter", _json({"data": {"a": 1}}), refused=("data",)),
        Case("litellm given as openrouter", "openrouter", _json({"acme/x": GOOD}), refused=("LiteLLM",)),
        Case("NaN", "openrouter", good.replace(b"8192", b"NaN", 1), refused=("NaN",)),
        Case(
            "non-UTF-8",
            "openrouter",
            good.replace(b"Acme: Good", b"Acme\xfe Good", 1),
            refused=("not UTF-8",),
        ),
        Case(
            "nested 10,000 levels",
            "openrouter",
            b'{"data": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
            refused=("not valid JSON",),
        ),
        Case("BOM", "openrouter", b"\xef\xbb\xbf" + good, created=valid_keys),
        Case(
            "wrong types",
            "openrouter",
            _json({"data": good_items + bad_items}),
            created=valid_keys,
            reported={
                **{f"acme/{entry_id}": ("error", words) for entry_id, (_, _, words) in OR_BAD_VALUES.items()},
                "acme/bad-expiration": ("warning", "expiration_date"),  # dropped, entry imported
            },
        ),
        Case(
            "items that are not objects and without id",
            "openrouter",
            _json({"data": [good_items[0], 5, "x", None, {"name": "no id"}, {"id": 7}]}),
            created=valid_keys[:1],
        ),
        Case(
            "duplicate ids",
            "openrouter",
            _json({"data": [good_items[0], {**good_items[0], "context_length": 4096}]}),
            created=valid_keys[:1],
            reported={"acme/good-0": ("duplicate", "")},
        ),
        Case(
            "1 MB id and description",
            "openrouter",
            _json({"data": [good_items[0], {**OR_GOOD, "id": "acme/" + "n" * MB}]}),
            created=valid_keys[:1],
            reported={"acme/" + "n" * MB: ("error", "")},
        ),
        Case(
            "10 MB file",
            "openrouter",
            _json({"data": [{**good_items[0], "description": "d" * (10 * MB)}]}),
            created=valid_keys[:1],
        ),
    ]


# -- the test --------------------------------------------------------------------------------------


def _state() -> dict:
    """What must not change when a file is refused (and what the good entries may only add to)."""
    return {
        "models": dict(AIModel.objects.values_list("key", "revision")),
        "providers": Provider.objects.count(),
        "versions": ModelVersion.objects.count(),
        "history": AIModel.history.model.objects.count(),
    }


@pytest.fixture
def known_catalogue(db):
    with override_settings(MODEL_REGISTRY={**settings.MODEL_REGISTRY, "IMPORT_MIN_MODELS": 0}):
        sink = io.StringIO()
        call_command(
            "import_catalog", str(FIXTURES / "litellm_oddities.json"), fmt="litellm", stdout=sink, stderr=sink
        )
        call_command(
            "import_catalog",
            str(FIXTURES / "openrouter_small.json"),
            fmt="openrouter",
            stdout=sink,
            stderr=sink,
        )
    state = _state()
    assert len(state["models"]) >= 20
    return state


class _Rollback(Exception):
    pass


def _run(case: Case, path: Path) -> list[str]:
    """Import ``case`` in a savepoint rolled back afterwards; returns what is wrong with the outcome."""
    path.write_bytes(case.content)
    wrong: list[str] = []
    before = _state()
    out, err = io.StringIO(), io.StringIO()
    try:
        with transaction.atomic():
            try:
                call_command("import_catalog", str(path), fmt=case.fmt, stdout=out, stderr=err)
            except CommandError as exc:
                message = str(exc)
                if not case.refused:
                    wrong.append(f"refused unexpectedly: {message[:300]}")
                for words in case.refused:
                    if words.lower() not in message.lower():
                        wrong.append(f"the error does not say {words!r}: {message[:300]}")
                if len(message) > 2000:
                    wrong.append(f"the error is {len(message)} characters long (not a clear message)")
                if _state() != before:
                    wrong.append("the refused file changed the database")
                raise _Rollback from None
            except RecursionError as exc:  # must never escape the loader
                wrong.append(f"crashed: RecursionError {exc}")
                raise _Rollback from None
            if case.refused:
                wrong.append(f"imported, expected a refusal; stdout {out.getvalue()[-200:]!r}")
            after = _state()
            for key in case.created:
                if key not in after["models"]:
                    wrong.append(f"{key} not imported")
            lines = err.getvalue().splitlines()
            for entry_id, (kind, words) in case.reported.items():
                prefix = f"{kind}: {entry_id}: "
                found = [line for line in lines if line.startswith(prefix)]
                if not found:
                    wrong.append(f"no {kind!r} line for {entry_id[:60]!r}; stderr: {err.getvalue()[-600:]!r}")
                elif words and not any(words.lower() in line.lower() for line in found):
                    wrong.append(
                        f"the {kind} line for {entry_id[:60]!r} does not say {words!r}: {found[0][:300]}"
                    )
            expected = {*before["models"], *case.created}
            not_imported = [e for e, (kind, _) in case.reported.items() if kind in ("error", "skipped")]
            bad_keys = [
                k for k in after["models"] if k not in expected and any(k.endswith(e) for e in not_imported)
            ]
            if bad_keys:
                wrong.append(f"bad entries imported: {[k[:60] for k in bad_keys]}")
            changed = [k for k, rev in before["models"].items() if after["models"].get(k) != rev]
            if changed:
                wrong.append(f"models already there were changed: {changed[:5]}")
            raise _Rollback
    except _Rollback:
        pass
    except Exception as exc:  # noqa: BLE001 - any other exception is a crash of the importer
        wrong.append(f"crashed: {type(exc).__name__}: {str(exc)[:300]}")
    return wrong


@pytest.mark.parametrize("corpus", [litellm_corpus, openrouter_corpus], ids=["litellm", "openrouter"])
def test_malformed_catalogues_are_refused_clearly_and_import_nothing(
    known_catalogue, corpus, tmp_path, capsys
):
    cases = corpus()
    failures = {}
    for n, case in enumerate(cases):
        wrong = _run(case, tmp_path / f"case-{n}.json")
        if wrong:
            failures[case.name] = wrong
    assert _state() == known_catalogue  # every case was rolled back
    total = sum(len(c.content) for c in cases)
    with capsys.disabled():
        print(
            f"\nmalformed {corpus.__name__}: {len(cases)} files, {total / MB:.1f} MB, {len(failures)} failing"
        )
    assert failures == {}, json.dumps(failures, indent=1)


def test_file_over_the_size_limit_is_refused_before_parsing(known_catalogue, tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(_json({"acme/good-0": GOOD, "sample_spec": {"note": "x" * (10 * MB)}}))
    with override_settings(MODEL_REGISTRY={**settings.MODEL_REGISTRY, "IMPORT_MAX_BYTES": 8 * MB}):
        with pytest.raises(CommandError, match="over the .*-byte limit"):
            call_command(
                "import_catalog", str(path), fmt="litellm", stdout=io.StringIO(), stderr=io.StringIO()
            )
    assert os.path.getsize(path) > 10 * MB
    assert _state() == known_catalogue
