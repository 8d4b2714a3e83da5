// Package embedded is the in-process Kafka-protocol broker (franz-go's kfake)
// that output.kafka.embedded starts: the quickstart runs on it, and tests.
package embedded

import (
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Start starts an in-process Kafka-protocol broker (franz-go's kfake)
// listening on addr, creating topics on first use with the given number of
// partitions. It is for the quickstart and tests: it keeps records in memory
// only. The caller closes the returned cluster.
func Start(addr string, partitions int, opts ...kfake.Opt) (*kfake.Cluster, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker port %q: %w", portStr, err)
	}
	opts = append([]kfake.Opt{
		kfake.Ports(port),
		kfake.AllowAutoTopicCreation(),
		// Said as Kafka says it, for `logship test output`.
		kfake.BrokerConfigs(map[string]string{"auto.create.topics.enable": "true"}),
		kfake.DefaultNumPartitions(partitions),
		// kfake listens on 127.0.0.1; bind where hosts[0] says instead.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
	}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded broker on %s: %w", addr, err)
	}
	return c, nil
}
