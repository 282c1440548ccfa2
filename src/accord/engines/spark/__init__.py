"""The scale-out engine: the same compiled SQL and the same graph work on Apache Spark.

Install with `pip install accord-cdp[spark]` (needs Java 17+).
"""

from accord.engines.adapter import Capabilities, EngineKind

ENGINE = EngineKind(
    name="spark",
    title="Apache Spark (local mode or a cluster)",
    package="accord.engines.spark",
    capabilities=Capabilities(decides_some=True, keeps_features=False, in_lake=False, distributed=True,
                              copies_lake=True),
    needs="the spark extra (pip install 'accord-cdp[spark]') and Java 17",
    settings_section="spark",
)
