"""confluent-kafka-python (librdkafka) in a consumer group: joins GROUP on TOPIC, reads COUNT records,
commits their offsets synchronously and closes (leaving the group). Run it twice to see the second run
go on from the first one's committed offset.
Usage: confluent-kafka-group.py BOOTSTRAP TOPIC GROUP COUNT; prints 'got PARTITION OFFSET VALUE' per record."""
import sys

from confluent_kafka import Consumer

bootstrap, topic, group, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
consumer = Consumer({
    'bootstrap.servers': bootstrap,
    'group.id': group,
    'auto.offset.reset': 'earliest',
    'enable.auto.commit': False,
    'session.timeout.ms': 10000,
})
consumer.subscribe([topic])
seen = 0
while seen < count:
    msg = consumer.poll(30)
    if msg is None:
        sys.exit('timed out after %d records' % seen)
    if msg.error():
        sys.exit(str(msg.error()))
    print('got', msg.partition(), msg.offset(), msg.value().decode(), flush=True)
    seen += 1
consumer.commit(asynchronous=False)
committed = consumer.committed(consumer.assignment(), timeout=10)
print('committed', ' '.join('%d:%d' % (tp.partition, tp.offset) for tp in committed), flush=True)
consumer.close()
