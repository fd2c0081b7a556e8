"""kafka-python (Debian's python3-kafka): a producer with acks=all, then a consumer assigned to
partition 0 reading from the beginning. Usage: kafka-python-check.py BOOTSTRAP TOPIC; prints
'got OFFSET KEY VALUE' per record and the protocol version kafka-python negotiated."""
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

bootstrap, topic = sys.argv[1], sys.argv[2]
producer = KafkaProducer(bootstrap_servers=bootstrap, acks='all', compression_type='gzip')
for i in range(5):
    producer.send(topic, partition=0, key=b'key-%d' % i, value=b'value-%d' % i).get(timeout=30)
producer.flush()
print('api_version', producer.config['api_version'])
consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, consumer_timeout_ms=20000)
consumer.assign([TopicPartition(topic, 0)])
consumer.seek_to_beginning()
seen = 0
for m in consumer:
    print('got', m.offset, m.key.decode(), m.value.decode())
    seen += 1
    if seen == 5:
        break
