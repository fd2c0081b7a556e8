/**
 * `samsa transactions`: Kafka's kafka-transactions.sh. List the transactional ids the brokers
 * coordinate, and describe one (producer id and epoch, state, the open transaction's partitions).
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
}
