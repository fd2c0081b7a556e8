"""confluent-kafka-python (librdkafka) transactions: init_transactions, then three transactions over
partitions 0-2 of TOPIC (committed, aborted, committed), then a read_committed consumer reading the
partitions from the beginning until it has the committed records.
Usage: confluent-kafka-txn.py BOOTSTRAP TOPIC TRANSACTIONAL_ID PER_TXN
Prints 'read VALUE' per record read, then 'done'."""
import sys

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

bootstrap, topic, txid, per_txn = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def fail(err):
    sys.exit('delivery failed: %s' % err)


producer = Producer({'bootstrap.servers': bootstrap, 'transactional.id': txid, 'acks': 'all'})
producer.init_transactions(30)
for name, commit in (('ck-c1', True), ('ck-a', False), ('ck-c2', True)):
    producer.begin_transaction()
    for i in range(per_txn):
        producer.produce(topic, value=('%s-%d' % (name, i)).encode(), partition=i % 3,
                         on_delivery=lambda err, _msg: err and fail(err))
    # Flushed first so that the aborted records are written too (abort would purge unsent ones).
    if producer.flush(30) != 0:
        sys.exit('records of %s not delivered' % name)
    if commit:
        producer.commit_transaction(30)
    else:
        producer.abort_transaction(30)
    print('ended', name, 'commit' if commit else 'abort', flush=True)

consumer = Consumer({
    'bootstrap.servers': bootstrap,
    'group.id': txid + '-reader',
    'isolation.level': 'read_committed',
    'enable.auto.commit': False,
})
consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(3)])
wanted = 2 * per_txn
seen = 0
while seen < wanted:
    msg = consumer.poll(30)
    if msg is None:
        sys.exit('timed out after %d records' % seen)
    if msg.error():
        continue  # partition EOF and the like
    print('read', msg.value().decode(), flush=True)
    seen += 1
consumer.close()
print('done', flush=True)
