"""confluent-kafka-python (Debian's python3-confluent-kafka, a second librdkafka binding): a producer
with acks=all and lz4, then a consumer assigned to partition 0 from the beginning (no group).
Usage: confluent-kafka-check.py BOOTSTRAP TOPIC; prints 'got OFFSET KEY VALUE' per record."""
import sys

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

bootstrap, topic = sys.argv[1], sys.argv[2]
producer = Producer({'bootstrap.servers': bootstrap, 'acks': 'all', 'compression.type': 'lz4'})
failures = []
for i in range(5):
    producer.produce(topic, key=b'key-%d' % i, value=b'value-%d' % i, partition=0,
                     on_delivery=lambda err, msg: err and failures.append(err))
if producer.flush(30) != 0 or failures:
    sys.exit('not delivered: %s' % failures)
consumer = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'unused', 'enable.auto.commit': False})
consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
seen = 0
while seen < 5:
    msg = consumer.poll(20)
    if msg is None:
        sys.exit('timed out')
    if msg.error():
        sys.exit(str(msg.error()))
    print('got', msg.offset(), msg.key().decode(), msg.value().decode())
    seen += 1
consumer.close()
