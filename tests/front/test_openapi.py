"""The OpenAPI document: its schemas are generated from the bodies' types, never written by hand."""

from __future__ import annotations

from typing import Any

import msgspec

from checkout.purchase import BuyRequest
from flashsale.front import openapi
from flashsale.front.errors import STATUS
from inventory.refusals import ANSWER_CODES


def refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(v) for v in node))
    return set()


def test_every_schema_is_generated_from_a_struct() -> None:
    doc = openapi.document()
    schemas = doc["components"]["schemas"]
    _, generated = msgspec.json.schema_components(openapi.BODIES, ref_template=openapi.REF)
    inline = generated.pop("ErrorDetail")
    assert schemas["Error"]["properties"]["error"] == inline
    assert {k: v for k, v in schemas.items() if k != "Error"} == {
        k: v for k, v in generated.items() if k != "Error"
    }
    assert schemas["BuyRequest"] == msgspec.json.schema(BuyRequest)["$defs"]["BuyRequest"]
    # Every reference in the document resolves to a generated schema.
    names = {r.removeprefix("#/components/schemas/") for r in refs(doc)}
    assert names <= set(schemas), names - set(schemas)


def test_error_codes_come_from_the_status_table_and_the_refusal_table() -> None:
    doc = openapi.document()
    code = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
    assert code["enum"] == sorted(STATUS)
    buy = doc["paths"]["/api/rounds/{round_id}/orders"]["post"]["responses"]
    listed = {
        c for r in buy.values() for c in r["description"].removeprefix("error codes: ").split(", ")
    }
    assert set(ANSWER_CODES) <= listed
