// Package kafka ships batches to Kafka with sarama's AsyncProducer and
// acknowledges each event once Kafka has acknowledged it with the configured
// required_acks.
//
//	Publish ──encode──▶ producer.Input()
//	                         │
//	Run: drain loop ◀── Successes() ──▶ batch acknowledged when all its events are
//	                ◀── Errors()    ──▶ retry queue ──(backoff)──▶ producer.Input()
//
// A failed message is sent again with exponential backoff until it is
// delivered or the output is closed; it is never skipped. (During an outage
// sarama fails messages whatever Producer.Retry.Max says, so the re-send lives
// here.) Both result channels are drained until they close.
//
// The embedded broker of the quickstart is package embedded.
package kafka
