"""Every GraphQL document plexsync sends is valid against Stash's real schema.

The schema is test data outside the repo (``<repo>/../shared/stash-schema``: ``schema.graphql``
plus ``types/*.graphql``, concatenated). Without it these tests skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema, parse, validate

from plexsync.stash_queries import ALL_DOCUMENTS
from tests.fakes.stash import SCHEMA as FAKE_SCHEMA

SCHEMA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "stash-schema"


@pytest.fixture(scope="module")
def stash_schema() -> GraphQLSchema:
    root = SCHEMA_DIR / "schema.graphql"
    if not root.is_file():
        pytest.skip(f"Stash's GraphQL schema not found at {SCHEMA_DIR} (test data outside repo)")
    files = [root, *sorted((SCHEMA_DIR / "types").glob("*.graphql"))]
    return build_schema("\n".join(p.read_text(encoding="utf-8") for p in files))


def test_the_project_sends_documents() -> None:
    assert {"FindScene", "FindScenesUpdated", "FindScenesAll", "Version", "PluginSettings"} <= set(
        ALL_DOCUMENTS
    )


@pytest.mark.parametrize("name", sorted(ALL_DOCUMENTS))
def test_document_is_valid_against_real_stash_schema(
    stash_schema: GraphQLSchema, name: str
) -> None:
    errors = validate(stash_schema, parse(ALL_DOCUMENTS[name]))
    assert errors == [], [e.message for e in errors]


@pytest.mark.parametrize("name", sorted(ALL_DOCUMENTS))
def test_operation_name_matches_key(name: str) -> None:
    assert f"query {name}" in ALL_DOCUMENTS[name]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("query A { findScene(id: 1) { rating } }", "Cannot query field 'rating' on type 'Scene'"),
        ("query B { findScene(id: 1) { files { name } } }", "Cannot query field 'name'"),
        (
            "query C { findScenes(filter: {sort: 1, direction: UP}) { count } }",
            "does not exist in 'SortDirectionEnum' enum",
        ),
        ('query D { configuration { plugins(ids: ["x"]) } }', "Unknown argument 'ids'"),
    ],
)
def test_check_catches_wrong_documents(
    stash_schema: GraphQLSchema, document: str, expected: str
) -> None:
    messages = [e.message for e in validate(stash_schema, parse(document))]
    assert any(expected in m for m in messages), messages


def test_fake_subset_agrees_with_real_schema_on_every_field_it_has(
    stash_schema: GraphQLSchema,
) -> None:
    """Every field and argument of the fake's subset SDL exists in real Stash, same type."""
    for name, fake_type in FAKE_SCHEMA.type_map.items():
        if name.startswith("__") or not hasattr(fake_type, "fields"):
            continue
        real_type = stash_schema.type_map[name]
        for field_name, fake_field in fake_type.fields.items():
            real_field = real_type.fields[field_name]  # type: ignore[attr-defined]
            assert str(real_field.type) == str(fake_field.type), f"{name}.{field_name}"
            for arg in getattr(fake_field, "args", {}):
                assert arg in real_field.args, f"{name}.{field_name}({arg})"
