"""confluent-kafka-python (librdkafka) AdminClient: create_partitions raising TOPIC to COUNT partitions,
then the same again (refused: the count must grow), then the topic's partition count from metadata.
Usage: confluent-kafka-admin.py BOOTSTRAP TOPIC COUNT. Prints 'grown', 'refused CODE_NAME', 'partitions N'."""
import sys

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewPartitions

bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
admin = AdminClient({'bootstrap.servers': bootstrap})
admin.create_partitions([NewPartitions(topic, count)], operation_timeout=10)[topic].result(30)
print('grown', flush=True)
try:
    admin.create_partitions([NewPartitions(topic, count)])[topic].result(30)
    print('not refused', flush=True)
except KafkaException as e:
    print('refused', e.args[0].name(), flush=True)
print('partitions', len(admin.list_topics(topic, timeout=10).topics[topic].partitions), flush=True)
