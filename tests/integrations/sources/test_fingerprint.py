from __future__ import annotations

import pytest

from integrations.sources.fingerprint import (
    is_fingerprint,
    labelset_fingerprint,
    labelset_fingerprint_int,
)
from tests.integrations.sources.conftest import load


def test_prometheus_common_test_vector() -> None:
    labels = {"name": "garland, briggs", "fear": "love is not enough"}
    assert labelset_fingerprint_int(labels) == 5799056148416392346
    assert labelset_fingerprint(labels) == f"{5799056148416392346:016x}"


def test_empty_label_set_is_the_fnv_offset_basis() -> None:
    assert labelset_fingerprint({}) == "cbf29ce484222325"


@pytest.mark.parametrize(
    "name",
    ["alertmanager_v4_firing", "alertmanager_v4_resolved", "grafana_webhook_firing"],
)
def test_matches_the_senders_fingerprints(name: str) -> None:
    for alert in load(name)["alerts"]:
        assert labelset_fingerprint(alert["labels"]) == alert["fingerprint"]


def test_order_of_labels_does_not_matter_but_every_byte_does() -> None:
    a = labelset_fingerprint({"a": "1", "b": "2"})
    assert a == labelset_fingerprint({"b": "2", "a": "1"})
    assert a != labelset_fingerprint({"a": "12"})  # the 0xFF separator keeps them apart
    assert a != labelset_fingerprint({"a": "1", "b": "2", "c": ""})


def test_lone_surrogates_hash_like_go_reads_them() -> None:
    assert labelset_fingerprint({"k": "\ud800"}) == labelset_fingerprint({"k": "\ufffd"})


def test_is_fingerprint() -> None:
    assert is_fingerprint("0f3a38a89d70e03a")
    assert not is_fingerprint("0F3A38A89D70E03A")
    assert not is_fingerprint("0f3a38a89d70e03")
