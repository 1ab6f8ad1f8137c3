"""Payments's tables."""
import sqlalchemy as sa

from hqcore.case_records import case_records_table
from hqcore.db import platform_tables

metadata = sa.MetaData()
TABLES = {**platform_tables(metadata), "case_records": case_records_table(metadata)}
