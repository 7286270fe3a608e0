"""Facts: the ``Fact`` type (``fact``), its file formats (``io``), suggestions (``suggest``)."""
