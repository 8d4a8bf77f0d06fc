"""Reading a trust's pupils from its MIS: CSV exports through a column mapping, and the
DfE Common Transfer File (XML). Each source yields `SourceRow`s (a line number and the
fields as the file gave them); `rows.validate` turns each into a `PupilRow` or refusals.
Nothing here writes: the use case is api/app/imports.py. See docs/import.md.
"""
