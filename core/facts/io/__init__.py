"""Reading and writing edit requests (Qt-free).

Sources: JSON Lines, a JSON array (or an object wrapping one), CSV with a column mapping,
or a Hugging Face dataset folder saved with ``save_to_disk``. JSON rows are recognised as
one of ``FORMAT_NAMES`` (see ``formats.JSON_FORMATS`` for the rules) unless ``format``
names one. ``read_facts`` is all or nothing; ``inspect_facts`` reports every bad row.
"""

from core.facts.io.csv_format import CSV_FIELDS, parse_column_mapping
from core.facts.io.errors import FactsFileError
from core.facts.io.formats import JSON_FORMATS, RowFormat
from core.facts.io.reader import (
    FORMAT_NAMES,
    DuplicateGroup,
    FactsFileReport,
    find_duplicates,
    inspect_facts,
    read_facts,
)
from core.facts.io.writers import (
    export_csv,
    export_easyedit_json,
    export_knowedit_json,
    write_facts_jsonl,
)

__all__ = [
    "CSV_FIELDS",
    "FORMAT_NAMES",
    "JSON_FORMATS",
    "DuplicateGroup",
    "FactsFileError",
    "FactsFileReport",
    "RowFormat",
    "export_csv",
    "export_easyedit_json",
    "export_knowedit_json",
    "find_duplicates",
    "inspect_facts",
    "parse_column_mapping",
    "read_facts",
    "write_facts_jsonl",
]
