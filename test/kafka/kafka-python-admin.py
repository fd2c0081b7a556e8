"""kafka-python KafkaAdminClient.create_partitions: TOPIC grown to COUNT partitions, then the same count
again (refused: it must grow). Usage: kafka-python-admin.py BOOTSTRAP TOPIC COUNT.
Prints 'grown', then 'refused ERROR_NAME'."""
import sys

from kafka.admin import KafkaAdminClient, NewPartitions
from kafka.errors import KafkaError

bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
admin = KafkaAdminClient(bootstrap_servers=bootstrap)
admin.create_partitions({topic: NewPartitions(total_count=count)}, timeout_ms=10000)
print('grown', flush=True)
try:
    admin.create_partitions({topic: NewPartitions(total_count=count)})
    print('not refused', flush=True)
except KafkaError as e:
    print('refused', type(e).__name__, flush=True)
admin.close()
