"""``[gateway] shuffled_lists``: lists every caller gets shuffled, not only roles that see the key masked.

A gateway without a policy (every field public, NIKs in full) lists a desa's residents in NIK
order; with ``shuffled_lists = ["Person.nik"]`` in the order of the keyed digest
(``connectors.shuffle``) made with the salt its cursor key gives, the same on every page.
"""

from __future__ import annotations

import pytest

from connectors import shuffled_position
from core import ConfigError
from gateway import GatewaySettings
from resolvers.cursors import CursorSeal, new_cursor_key

from ..conftest import Backend, gateway_config, open_gateway

RESIDENTS = """query($d: RegionCode!, $a: String) { region(code: $d) { residents(first: 100, after: $a) {
  pageInfo { hasNextPage endCursor } nodes { nik } } } }"""


async def _walk(gateway, desa: str) -> list[str]:  # type: ignore[no-untyped-def]
    niks: list[str] = []
    after = None
    while True:
        answer = await gateway.query(RESIDENTS, {"d": desa, "a": after})
        assert "errors" not in answer, answer["errors"]
        page = answer["data"]["region"]["residents"]
        niks += [n["nik"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            return niks
        after = page["pageInfo"]["endCursor"]


async def test_every_caller_gets_a_shuffled_list_when_the_setting_names_it(sqlite_backend: Backend) -> None:
    key = new_cursor_key()
    config = gateway_config(sqlite_backend)
    config["gateway"]["cursor_key"] = key
    desa = None
    async for gateway in open_gateway(config):
        counts = await gateway.query('{ region(code: "35.03.08") { children { code } } }')
        desa = counts["data"]["region"]["children"][0]["code"]
        in_key_order = await _walk(gateway, desa)
    assert desa is not None and len(in_key_order) > 100 and in_key_order == sorted(in_key_order)
    config["gateway"]["shuffled_lists"] = ["Person.nik"]
    async for gateway in open_gateway(config):
        shuffled = await _walk(gateway, desa)
    salt = CursorSeal.from_text(key).order_salt("Person.nik")
    assert shuffled == sorted(in_key_order, key=lambda nik: (shuffled_position(salt, nik), nik))
    assert shuffled != in_key_order


@pytest.mark.parametrize("value", [["Person.name"], "Person.nik"])
def test_only_the_lists_a_key_orders_can_be_named(sqlite_backend: Backend, value: object) -> None:
    config = gateway_config(sqlite_backend)
    config["gateway"]["shuffled_lists"] = value
    with pytest.raises(ConfigError, match="shuffled_lists"):
        GatewaySettings.from_dict(config)
