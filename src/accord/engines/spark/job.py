"""Accord as a Spark application: `spark-submit --master URL <this file> run --engine spark -w WORKSPACE` runs an
Accord command as a cluster job does. The CLI runs on the driver; the Spark stages use the session spark-submit
set up (its master and settings win over accord.yaml's `spark:`)."""

from accord.cli import main

if __name__ == "__main__":
    main()
