"""The trade and run topics on the brokers: created when missing, their partition counts.

The ingest and every cluster member call ``ensure_topics`` before their dataflow starts, so they can
be started in any order; whoever comes first creates the trade topic with one partition per
aggregation shard (``SOLFLOW_AGG_SHARDS``) and the run topic with one. An existing trade topic keeps
its partition count: that count is the number of shards the cluster aggregates in.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from solflow.wire import KafkaTopic, ServiceError

CONNECT_TIMEOUT_S = 10.0
CLIENT_LOG = logging.getLogger("kafka")  # librdkafka's own lines, through the process's logging
_QUIET = logging.getLogger("kafka.setup")  # while setting up, a failure is one ServiceError instead
_QUIET.setLevel(logging.CRITICAL + 1)


def ensure_topics(target: KafkaTopic, partitions: int) -> int:
    """Create what is missing of ``target``'s two topics; the trade topic's partition count."""
    config: dict[str, Any] = {"bootstrap.servers": target.bootstrap, "logger": _QUIET}
    admin = AdminClient(config)
    existing = _partition_counts(admin, target)
    wanted = {target.topic: partitions, target.run_topic: 1}
    missing = [NewTopic(name, count, 1) for name, count in wanted.items() if name not in existing]
    if missing:
        for name, future in admin.create_topics(missing, request_timeout=CONNECT_TIMEOUT_S).items():
            try:
                future.result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # another process was first
                    raise ServiceError(f"{target}: cannot create topic {name!r}: {exc.args[0].str()}") from None
        existing = _partition_counts(admin, target)
    return existing[target.topic]


def _partition_counts(admin: AdminClient, target: KafkaTopic) -> dict[str, int]:
    try:
        metadata = admin.list_topics(timeout=CONNECT_TIMEOUT_S)
    except KafkaException as exc:
        raise ServiceError(f"{target}: cannot reach the brokers ({exc.args[0].str()})") from None
    return {
        name: len(topic.partitions)
        for name, topic in metadata.topics.items()
        if name in (target.topic, target.run_topic) and topic.error is None and topic.partitions
    }
