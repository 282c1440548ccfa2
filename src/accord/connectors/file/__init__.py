"""Audience files: CSV or Parquet on a path or any fsspec URL (s3://, gs://, ...), written atomically."""

from accord.connectors.file.config import FileDestinationConfig
from accord.connectors.registry import Connector

CONNECTOR = Connector("file", "Files", __name__, destination=FileDestinationConfig)
