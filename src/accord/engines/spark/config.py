"""The `spark:` section of accord.yaml: where Spark runs and how its session is set up."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SparkConfig(BaseModel):
    """Settings of the Spark engine (used when `engine: spark` or `--engine spark`)."""

    model_config = ConfigDict(extra="forbid")

    master: str = Field(default="local[2]", description="Where Spark runs: `local[N]` on this machine, "
                                                        "`spark://host:7077`, `yarn`, or `sc://host:15002` for "
                                                        "Spark Connect.")
    conf: dict[str, str] = Field(default_factory=dict, description="Spark settings added to the session, e.g. "
                                                                   "`spark.executor.memory: 8g`.")
    lake: str | None = Field(default=None, description="Where the store's tables Spark reads are kept, as "
                                                       "Parquet committed all or nothing: a folder every executor "
                                                       "reads, or a URI Spark's Hadoop libraries reach "
                                                       "(`hdfs://`, `s3a://`, `abfss://`, `gs://`); each "
                                                       "sandbox gets a folder of its own under it. Default: "
                                                       "`derived/spark-lake` beside the sandbox's store.")
    database: str = Field(default="accord", description="Names the database of Spark's catalog, one per sandbox "
                                                        "(`<database>_<sandbox>`), where each table Spark read is a "
                                                        "view over what was committed (`accord_prod.person`).")
    workdir: str | None = Field(default=None, description="Where data handed to Spark is staged: a folder or URI "
                                                          "every executor reads. Default: a temporary folder on "
                                                          "this machine (enough for local mode).")
