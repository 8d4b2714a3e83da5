// Command broker runs an in-process Kafka-protocol broker (kfake) that
// acknowledges produce requests without keeping the records, for
// benchmarks whose agent memory must not include the broker's store.
//
//	go run ./bench/broker -port 19312
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 19312, "port to listen on (127.0.0.1)")
	flag.Parse()
	c, err := kfake.NewCluster(kfake.Ports(*port), kfake.AllowAutoTopicCreation(), kfake.BlackholeProduce())
	if err != nil {
		fmt.Fprintln(os.Stderr, "broker:", err)
		os.Exit(1)
	}
	defer c.Close()
	fmt.Println("broker listening on", c.ListenAddrs())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	<-ch
}
