package agent

import (
	"fmt"
	"os"
	"testing"

	"github.com/logship/logship/config"
)

// Whatever output.kafka says, a configuration the file's validation
// accepts is one the Kafka client accepts at start (Check builds it): the
// client's own refusals (zstd before 2.1.0, a client id old brokers
// refuse, idempotence without acks from all, compression levels …) are
// all reported by validation, with their lines.
func TestValidationCoversTheKafkaClient(t *testing.T) {
	dir := t.TempDir()
	accepted, refused := 0, 0
	for _, version := range []string{"0.11.0", "1.0.0", "2.0.0", "2.1.0", "3.6.0"} {
		for _, compression := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
			for _, level := range []string{"", "compression_level: 1,", "compression_level: 9,", "compression_level: 22,", "compression_level: -5,"} {
				for _, acks := range []string{"required_acks: -1", "required_acks: 1, idempotent: true", "required_acks: 0, idempotent: false", "required_acks: 1"} {
					for _, client := range []string{"logship", "host one/logship"} {
						y := fmt.Sprintf("inputs: [{paths: [%q]}]\nregistry.path: %q\noutput.kafka: {hosts: [k:9092], version: %q, compression: %s, %s %s, client_id: %q}\n",
							dir+"/*.log", dir+"/registry.json", version, compression, level, acks, client)
						cfg, err := config.Parse("agent.yml", []byte(y), os.LookupEnv)
						if err != nil {
							refused++
							continue
						}
						accepted++
						if err := Check("agent.yml", cfg); err != nil {
							t.Errorf("validation accepted what the agent refuses at start:\n%s%v", y, err)
						}
					}
				}
			}
		}
	}
	if accepted == 0 || refused == 0 {
		t.Fatalf("%d accepted, %d refused: the cases test nothing", accepted, refused)
	}
}
