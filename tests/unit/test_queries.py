"""Named queries load from store/queries/*.sql."""

import pytest

from noetl_pg.store import queries


def test_every_query_has_sql_text():
    loaded = queries.all_queries()
    assert loaded, "no named queries found"
    assert all(text.strip() for text in loaded.values())


def test_unknown_query_names_the_directory():
    with pytest.raises(KeyError, match="no SQL query named 'nope'"):
        queries.query("nope")
