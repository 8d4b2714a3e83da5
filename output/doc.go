// Package output holds logship's outputs, the last stage of the pipeline.
// Each output satisfies spooler.Publisher: it takes whole batches, delivers
// every event, and acknowledges each batch's events as they are delivered.
//
//	spooler ──*spooler.Batch──▶ output/kafka ──▶ Kafka
//	   ▲                             │
//	   └────────── Batch.Ack ────────┘
package output
