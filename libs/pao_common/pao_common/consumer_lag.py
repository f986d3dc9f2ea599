"""Consumer lag per group and topic, as this process sees it, on ``/metrics``.

``pao_consumer_lag_messages{group, topic}``: for each partition assigned to a consumer
here, the partition's high watermark (from the consumer's last fetch) minus the next
offset this process has to handle; records fetched and queued but not handled yet count
as lag. Each replica reports its own partitions, so a group's lag is the ``sum`` over
replicas. A partition this process has not handled a record of yet is left out (its
starting point is unknown without a broker round trip, which a scrape must not make).

Computed when scraped (a ``Collector``): the hot path only stores an offset per record.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector


class ConsumerLag(Collector):
    def __init__(self) -> None:
        # consumer -> (group, next offset to handle per partition)
        self._consumers: dict[AIOKafkaConsumer, tuple[str, dict[TopicPartition, int]]] = {}

    def handled(self, group: str, consumer: AIOKafkaConsumer, record: Any) -> None:
        found = self._consumers.get(consumer)
        if found is None:
            found = self._consumers[consumer] = (group, {})
        found[1][TopicPartition(record.topic, record.partition)] = record.offset + 1

    def forget(self, group: str) -> None:
        """Drop the consumers of ``group`` (it stopped consuming here)."""
        for consumer in [c for c, (g, _) in self._consumers.items() if g == group]:
            del self._consumers[consumer]

    def lag(self) -> dict[tuple[str, str], int]:
        """Messages not handled yet, per (group, topic)."""
        totals: dict[tuple[str, str], int] = {}
        for consumer, (group, next_offsets) in list(self._consumers.items()):
            try:
                assigned = consumer.assignment()
            except Exception:  # stopped or never started: nothing assigned
                continue
            for tp in assigned:
                high = consumer.highwater(tp)
                next_offset = next_offsets.get(tp)
                if high is None or next_offset is None:
                    continue
                key = (group, tp.topic)
                totals[key] = totals.get(key, 0) + max(high - next_offset, 0)
        return totals

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "pao_consumer_lag_messages",
            "Records on the broker not yet handled by this process, by consumer group and topic",
            labels=["group", "topic"],
        )
        for (group, topic), value in sorted(self.lag().items()):
            family.add_metric([group, topic], value)
        yield family


CONSUMER_LAG = ConsumerLag()
REGISTRY.register(CONSUMER_LAG)
