/**
 * `samsa transactions`: Kafka's kafka-transactions.sh. List the transactional ids the brokers
 * coordinate, describe one (producer id and epoch, state, the open transaction's partitions), show a
 * partition's producers, and abort a hanging transaction.
 */
import type { Command } from 'commander';
import { connect, withBootstrap } from '../connect.js';
import { CliError } from '../errors.js';
import { formatTable } from './consumer-groups.js';

export function registerTransactions(program: Command): void {
  const transactions = program
    .command('transactions')
    .description('list and describe transactions (kafka-transactions)');
  withBootstrap(transactions.command('list'))
    .description('every transactional id, its producer id and state')
    .option('--state <state>', 'only transactions in this state (e.g. Ongoing)')
    .action(async (o: { bootstrapServer: string; state?: string }) => {
      await using samsa = await connect(o.bootstrapServer, 'samsa-transactions');
      const list = await samsa.admin().listTransactions(o.state ? { states: [o.state] } : {});
      process.stdout.write(
        formatTable(
          ['TransactionalId', 'ProducerId', 'TransactionState'],
          list.map((t) => [t.transactionalId, String(t.producerId), t.state]),
        ),
      );
    });
  withBootstrap(transactions.command('describe'))
    .description('one transactional id: producer, epoch, state, timeout, the open transaction and its partitions')
    .option('--transactional-id <id>', 'the transactional id')
    .action(async (o: { bootstrapServer: string; transactionalId?: string }) => {
      if (!o.transactionalId) throw new CliError('describe needs --transactional-id', 2);
      await using samsa = await connect(o.bootstrapServer, 'samsa-transactions');
      const d = await samsa.admin().describeTransaction(o.transactionalId);
      const started = d.transactionStartTimeMs < 0 ? 'None' : new Date(d.transactionStartTimeMs).toISOString();
      const partitions = d.partitions.map((p) => `${p.topic}-${p.partition}`).join(',');
      process.stdout.write(
        formatTable(
          [
            'TransactionalId',
            'ProducerId',
            'ProducerEpoch',
            'TransactionState',
            'TransactionTimeoutMs',
            'CurrentTransactionStartTime',
            'TopicPartitions',
          ],
          [
            [
              d.transactionalId,
              String(d.producerId),
              String(d.producerEpoch),
              d.state,
              String(d.transactionTimeoutMs),
              started,
              partitions,
            ],
          ],
        ),
      );
    });
  withBootstrap(transactions.command('describe-producers'))
    .description("a partition's producers as its leader keeps them: epoch, last sequence, open transaction")
    .option('--topic <topic>', 'the topic')
    .option('--partition <n>', 'the partition')
    .action(async (o: { bootstrapServer: string; topic?: string; partition?: string }) => {
      const { topic, partition } = partitionOf(o, 'describe-producers');
      await using samsa = await connect(o.bootstrapServer, 'samsa-transactions');
      const producers = await samsa.admin().describeProducers(topic, partition);
      process.stdout.write(
        formatTable(
          [
            'ProducerId',
            'ProducerEpoch',
            'LatestCoordinatorEpoch',
            'LastSequence',
            'LastTimestamp',
            'CurrentTransactionStartOffset',
          ],
          producers.map((p) => [
            String(p.producerId),
            String(p.producerEpoch),
            String(p.coordinatorEpoch),
            String(p.lastSequence),
            String(p.lastTimestampMs),
            p.currentTransactionStartOffset < 0 ? 'None' : String(p.currentTransactionStartOffset),
          ]),
        ),
      );
    });
  withBootstrap(transactions.command('abort'))
    .description('abort a hanging transaction: the one open on a partition from --start-offset')
    .option('--topic <topic>', 'the topic')
    .option('--partition <n>', 'the partition')
    .option('--start-offset <offset>', 'the first offset of the open transaction (describe-producers shows it)')
    .option('--force', 'abort even a transaction its coordinator still has open (may tear it)')
    .action(
      async (o: {
        bootstrapServer: string;
        topic?: string;
        partition?: string;
        startOffset?: string;
        force?: boolean;
      }) => {
        const { topic, partition } = partitionOf(o, 'abort');
        const startOffset = Number(o.startOffset);
        if (o.startOffset === undefined || !Number.isSafeInteger(startOffset) || startOffset < 0)
          throw new CliError('abort needs --start-offset, a non-negative integer', 2);
        await using samsa = await connect(o.bootstrapServer, 'samsa-transactions');
        const aborted = await samsa
          .admin()
          .abortTransaction({ topic, partition, startOffset, force: o.force === true });
        process.stdout.write(
          `aborted the transaction of producer ${aborted.producerId} (epoch ${aborted.producerEpoch}) ` +
            `on ${topic}-${partition} from offset ${startOffset}\n`,
        );
      },
    );
}

function partitionOf(o: { topic?: string; partition?: string }, command: string): { topic: string; partition: number } {
  const partition = Number(o.partition);
  if (!o.topic || o.partition === undefined || !Number.isSafeInteger(partition) || partition < 0)
    throw new CliError(`${command} needs --topic and --partition`, 2);
  return { topic: o.topic, partition };
}
