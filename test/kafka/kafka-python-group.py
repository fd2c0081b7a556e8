"""kafka-python (Debian's python3-kafka) in a consumer group: joins GROUP on TOPIC, reads COUNT records,
commits synchronously and closes. Usage: kafka-python-group.py BOOTSTRAP TOPIC GROUP COUNT; prints
'got PARTITION OFFSET VALUE' per record, then the committed offset of partition 0."""
import sys

from kafka import KafkaConsumer, TopicPartition

bootstrap, topic, group, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset='earliest',
                         enable_auto_commit=False, consumer_timeout_ms=30000, session_timeout_ms=10000)
seen = 0
for m in consumer:
    print('got', m.partition, m.offset, m.value.decode(), flush=True)
    seen += 1
    if seen == count:
        break
if seen < count:
    sys.exit('timed out after %d records' % seen)
consumer.commit()
print('committed 0:%d' % consumer.committed(TopicPartition(topic, 0)), flush=True)
consumer.close()
