// Command vigil-kfake runs an in-process Kafka broker (franz-go's kfake) for
// Vigil's tests and local experiments, so that the Kafka input can be driven
// by real clients such as kcat without a Kafka installation.
//
//	vigil-kfake [-addr 127.0.0.1:PORT] [-topics t1,t2] [-partitions 3]
//
// It starts one broker on -addr (port 0 picks a free port), creates the
// -topics with -partitions partitions each, prints "READY host:port" on
// standard output once clients can connect, and runs until SIGTERM or
// SIGINT. Producers may also create topics on the fly (kcat does). Nothing
// is persisted: the data is gone when the process exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "vigil-kfake:", err)
		os.Exit(1)
	}
}

// run starts the cluster, reports its address on stdout and blocks until
// ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vigil-kfake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "host:port to listen on (port 0: any free port)")
	topics := fs.String("topics", "", "comma-separated topics to create at start")
	parts := fs.Int("partitions", 3, "partitions of each topic created at start and of auto-created topics")
	data := fs.String("data", "", "folder to keep topics in across restarts (default: memory only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c, err := start(*addr, splitList(*topics), *parts, *data)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintln(stdout, "READY", c.ListenAddrs()[0])
	<-ctx.Done()
	return nil
}

// start starts a one-broker cluster listening on addr.
func start(addr string, topics []string, parts int, data string) (*kfake.Cluster, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("-addr %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("-addr %q: bad port: %w", addr, err)
	}
	if parts < 1 || parts > 10000 {
		return nil, fmt.Errorf("-partitions %d: want 1 to 10000", parts)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(int(port)),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(parts),
		// kfake always asks for 127.0.0.1; listen on the host asked for.
		kfake.ListenFn(func(network, a string) (net.Listener, error) {
			_, p, err := net.SplitHostPort(a)
			if err != nil {
				return nil, err
			}
			return net.Listen(network, net.JoinHostPort(host, p))
		}),
	}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(parts), topics...))
	}
	if data != "" {
		opts = append(opts, kfake.DataDir(data), kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start cluster on %s: %w", addr, err)
	}
	return c, nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
