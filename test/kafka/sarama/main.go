// A sarama program shaped like the seeds' examples: a SyncProducer with RequiredAcks = WaitForAll and
// a partition consumer. Usage: sarama-check BROKER TOPIC [default|v1] [oldest|newest]
// (default: sarama's own default protocol version; v1: sarama.V1_0_0_0). With oldest (the default) the
// records are produced first and consumed from OffsetOldest; with newest, as in the seeds, the consumer
// starts at OffsetNewest before the records are produced. Prints one line per record.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/Shopify/sarama"
)

const records = 5

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
	os.Exit(1)
}

func main() {
	brokers := []string{os.Args[1]}
	topic := os.Args[2]
	cfg := sarama.NewConfig()
	if len(os.Args) > 3 && os.Args[3] == "v1" {
		cfg.Version = sarama.V1_0_0_0
	}
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Metadata.Retry.Max = 20
	cfg.Metadata.Retry.Backoff = 250 * time.Millisecond
	newest := len(os.Args) > 4 && os.Args[4] == "newest"
	var pc sarama.PartitionConsumer
	if newest {
		pc = consume(brokers, cfg, topic, sarama.OffsetNewest)
	}
	produce(brokers, cfg, topic)
	if !newest {
		pc = consume(brokers, cfg, topic, sarama.OffsetOldest)
	}
	for i := 0; i < records; i++ {
		select {
		case m := <-pc.Messages():
			fmt.Printf("got %d %s %s\n", m.Offset, m.Key, m.Value)
		case err := <-pc.Errors():
			fail("consume", err)
		case <-time.After(20 * time.Second):
			fail("consume", fmt.Errorf("timed out"))
		}
	}
	pc.Close()
}

func produce(brokers []string, cfg *sarama.Config, topic string) {
	producer, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		fail("producer", err)
	}
	for i := 0; i < records; i++ {
		msg := &sarama.ProducerMessage{Topic: topic, Partition: 0,
			Key: sarama.StringEncoder(fmt.Sprintf("key-%d", i)), Value: sarama.StringEncoder(fmt.Sprintf("value-%d", i))}
		partition, offset, err := producer.SendMessage(msg)
		if err != nil {
			fail("send", err)
		}
		fmt.Printf("sent %d %d\n", partition, offset)
	}
	producer.Close()
}

func consume(brokers []string, cfg *sarama.Config, topic string, from int64) sarama.PartitionConsumer {
	consumer, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		fail("consumer", err)
	}
	pc, err := consumer.ConsumePartition(topic, 0, from)
	if err != nil {
		fail("consume partition", err)
	}
	return pc
}
