"""Catalog coverage by hand."""
from models.metrics import catalog_coverage


def test_distinct_items_shown_over_catalog_size():
    assert catalog_coverage([[0, 1], [1, 2]], 10) == 0.3
    assert catalog_coverage([[4, -1], [-1, -1]], 4 + 1) == 0.2  # -1 pads short lists
