from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent

# integrations/http.py passes tenacity's deprecated `initial` (a DeprecationWarning, an error
# under our warning policy); ignore that one warning here until the shared client changes.
_TENACITY = pytest.mark.filterwarnings(
    "ignore:The 'initial' parameter is deprecated:DeprecationWarning"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(_TENACITY)
