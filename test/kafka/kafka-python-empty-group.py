"""kafka-python (Debian's python3-kafka) with group id "": an old-style consumer that commits offsets
without joining a group (assign(); OffsetCommit with generation -1 and member id ""), as Kafka still
accepts for old clients. Usage: kafka-python-empty-group.py BOOTSTRAP TOPIC [OFFSET]: commits OFFSET for
partition 0 when given, prints 'committed 0:N' (read back with OffsetFetch), then the first record read
from the committed position as 'got PARTITION OFFSET VALUE'."""
import sys

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

bootstrap, topic = sys.argv[1], sys.argv[2]
partition = TopicPartition(topic, 0)
consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id='', enable_auto_commit=False,
                         auto_offset_reset='earliest', consumer_timeout_ms=30000)
consumer.assign([partition])
if len(sys.argv) > 3:
    consumer.commit({partition: OffsetAndMetadata(int(sys.argv[3]), 'old client')})
print('committed 0:%s' % consumer.committed(partition), flush=True)
for m in consumer:
    print('got', m.partition, m.offset, m.value.decode(), flush=True)
    break
consumer.close()
