// Package e2e runs the built logship binary as a subprocess against an
// in-process Kafka-protocol broker, with real files, signals and kill -9,
// and counts every line on the Kafka side with an independent consumer.
package e2e
