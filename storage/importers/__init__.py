"""Loaders for recorded market-data files: ``cryptobot data import FILE --exchange … --symbol … --kind …``."""

from cryptobot.storage.importers.loader import ImportSummary, import_file, parse_file

__all__ = ["ImportSummary", "import_file", "parse_file"]
