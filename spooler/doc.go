// Package spooler sits between the harvesters and the output. It holds at
// most max_events events and max_bytes bytes (harvesters block on a full
// spooler), cuts them into batches by count or by time, hands each batch to
// the output, and turns the output's acknowledgements into committed file
// offsets.
//
//	harvesters ──*event.Chunk──▶ Spooler.Run ──*Batch──▶ Publisher (output)
//	                                                        │ Batch.Ack
//	registry ◀──Commit── acker (in batch order) ◀───────────┘
//
// Acknowledgements arrive out of order (Kafka partitions are independent), so
// the acker commits a batch's offsets only once it and every batch before it
// are fully acknowledged: a file's committed offset never passes a line that
// Kafka has not acknowledged.
package spooler
