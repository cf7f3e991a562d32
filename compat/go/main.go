// franz-compat: a franz-go (github.com/twmb/franz-go) client driven by the
// compat suite's pytest tests.
//
//	franz-compat -b HOST:PORT produce -topic T [-compression none|gzip|snappy|lz4|zstd] [-acks all|1|0]
//	    reads JSON lines from stdin, one record each:
//	    {"key": base64|null, "value": base64|null, "headers": [[name, base64|null], ...],
//	     "timestamp": ms|null, "partition": int|null}
//	    prints one JSON line per record, in input order: {"partition":P,"offset":O} or {"error":"..."}
//	franz-compat -b HOST:PORT consume -topic T -count N [-timeout-ms MS]
//	    consumes every partition from the beginning without a consumer group and prints
//	    {"partition","offset","timestamp","key","value","headers"} per record, then
//	    {"done":true,"count":N}
//	franz-compat -b HOST:PORT txn-produce -topic T -txn-id ID -prefix P -pattern CA.. -per-txn M [-partitions N]
//	    a transactional producer (kgo.TransactionalID): transaction i writes M records with
//	    values P-t<i>-r<j> (key = value; record j to partition j % N when N > 0) and commits
//	    (C) or aborts (A) per the pattern letter; prints the same lines as the Java driver's
//	    txn-produce: {"init":true}, {"txn","begin":true,"values"}, {"txn","value","partition",
//	    "offset"} per ack, {"txn","committing":true}, {"txn","outcome":"committed"|"aborted"|
//	    "unknown"[,"error"]}, then {"done":true,...}. Stops at the first error.
//	    Pattern letter F (needs -fail-topic, a topic with a small max.message.bytes): the
//	    transaction's records (1 KiB values) go there and are refused (MESSAGE_TOO_LARGE);
//	    then the transaction is ended with TryCommit, which franz-go turns into an abort
//	    because no produce landed (KIP-890: the broker may still have registered the
//	    partition). Prints {"txn","produce_failed":true} and outcome "aborted"; the run
//	    goes on.
//	franz-compat -b HOST:PORT txn-pipeline -topic IN -out OUT -group G -txn-id ID
//	        [-balancer range|cooperative-sticky|sticky] [-instance-id I] [-protocol classic|consumer]
//	        [-batch N] [-tag T] [-abort-every N] [-txn-timeout-ms MS]
//	    consume -> transform -> produce with a kgo.GroupTransactSession: a read_committed group
//	    member of G reads IN; each poll (at most N records) becomes one transaction that writes
//	    "copy:"+value (same key, same partition) to OUT and commits the consumed offsets with
//	    it. Prints {"assigned":[partitions]} when the assignment changes, {"txn":i,"records":n,
//	    "committed":bool} per transaction (false: the session aborted it, e.g. after a
//	    rebalance; committed ones with "offsets":{"P":next offset}), and {"done":true,"txns":n}
//	    after a graceful leave once stdin is closed. Any client error is fatal: {"error":...}
//	    and exit 1. For the fault tests: -tag T makes copies "copy:"+value+"|T#"+txn,
//	    -abort-every N flushes, aborts and redoes every Nth transaction on purpose.
//
//	franz-compat -b HOST:PORT probe -topic T
//	    one Metadata request (10s): prints {"ok":true} or {"error":"..."}, the connection's
//	    own error (TLS, SASL) that a produce would only report as a timeout.
//
//	franz-compat -b HOST:PORT fault-produce ...   (faults.go: the fault tests' idempotent producer)
//
//	franz-compat -b HOST:PORT share-consume -topic T -group G ...   (share.go: a share-group member)
//	franz-compat -b HOST:PORT share-raw -topic T -group G   (share_raw.go: bad share requests, error codes)
//	franz-compat -b HOST:PORT share-raw-v2 -topic T -group G   (share_raw_v2.go: ShareFetch/ShareAcknowledge v2)
//
// No RecordDeliveryTimeout: franz-go measures it from Record.Timestamp, which the tests
// set to old CreateTimes; the 60s context bounds production instead.
// Idempotent production is disabled: the broker under test may not implement it.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

type inRecord struct {
	Key       *string      `json:"key"`
	Value     *string      `json:"value"`
	Headers   [][2]*string `json:"headers"`
	Timestamp *int64       `json:"timestamp"`
	Partition *int32       `json:"partition"`
}

type outRecord struct {
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Timestamp int64        `json:"timestamp"`
	Key       *string      `json:"key"`
	Value     *string      `json:"value"`
	Headers   [][2]*string `json:"headers"`
}

// newClient builds a franz-go client or exits; FRANZ_DEBUG=1 logs its
// protocol exchanges to stderr; COMPAT_SECURITY adds TLS/SASL (security.go).
func newClient(opts []kgo.Opt) *kgo.Client {
	opts = append(opts, securityOpts()...)
	if os.Getenv("FRANZ_DEBUG") != "" {
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, nil)))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		die("client: %v", err)
	}
	return cl
}

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "franz-compat: "+format+"\n", args...)
	os.Exit(2)
}

func b64dec(s *string) []byte {
	if s == nil {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(*s)
	if err != nil {
		die("bad base64: %v", err)
	}
	if b == nil {
		b = []byte{}
	}
	return b
}

func b64enc(b []byte) *string {
	if b == nil {
		return nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return &s
}

func codec(name string) kgo.CompressionCodec {
	switch name {
	case "none", "":
		return kgo.NoCompression()
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	die("unknown compression %q", name)
	return kgo.NoCompression()
}

func main() {
	bootstrap := flag.String("b", "127.0.0.1:9092", "bootstrap server")
	flag.Parse()
	if flag.NArg() < 1 {
		die("usage: franz-compat -b HOST:PORT produce|consume ...")
	}
	cmd := flag.Arg(0)
	sub := flag.NewFlagSet(cmd, flag.ExitOnError)
	topic := sub.String("topic", "", "topic")
	compression := sub.String("compression", "none", "compression codec")
	acks := sub.String("acks", "all", "acks: all, 1 or 0")
	count := sub.Int("count", 0, "records to consume")
	timeoutMs := sub.Int("timeout-ms", 20000, "consume timeout")
	group := sub.String("group", "", "consume as a member of this group (cooperative-sticky), committing")
	txnID := sub.String("txn-id", "", "txn-produce: transactional.id")
	prefix := sub.String("prefix", "franz", "txn-produce: value prefix")
	pattern := sub.String("pattern", "C", "txn-produce: C (commit) / A (abort) per transaction")
	perTxn := sub.Int("per-txn", 1, "txn-produce: records per transaction")
	partitions := sub.Int("partitions", 0, "txn-produce: spread records over this many partitions")
	failTopic := sub.String("fail-topic", "", "txn-produce: topic for pattern letter F")
	out := sub.String("out", "", "txn-pipeline: output topic")
	balancer := sub.String("balancer", "cooperative-sticky", "txn-pipeline: group balancer")
	instanceID := sub.String("instance-id", "", "txn-pipeline: static member instance id")
	protocol := sub.String("protocol", "classic", "txn-pipeline: group protocol, classic or consumer (KIP-848)")
	batch := sub.Int("batch", 50, "txn-pipeline: max records per transaction")
	tag := sub.String("tag", "", "txn-pipeline: append |TAG#<txn> to every copy")
	abortEvery := sub.Int("abort-every", 0, "txn-pipeline: abort every Nth transaction on purpose")
	txnTimeoutMs := sub.Int("txn-timeout-ms", 30000, "txn-pipeline: transaction timeout")
	rate := sub.Float64("rate", 0, "fault-produce: records per second")
	maxMs := sub.Int("max-ms", 600000, "fault-produce: stop after this long even if stdin stays open")
	var acts actFlags
	sub.Var(&acts, "act", "share-consume: VALUE[@N]=accept|release|reject|hold (repeatable)")
	holdMs := sub.Int("hold-ms", 0, "share-consume: how long a held record stays unacknowledged")
	runMs := sub.Int("run-ms", 0, "share-consume: stop after this long (0: when stdin closes)")
	renewMs := sub.Int("renew-ms", 1000, "share-consume: how often a record to renew is renewed")
	maxRecords := sub.Int("max-records", 0, "share-consume: records per poll and ShareFetch (0: franz-go's default)")
	quiet := sub.Bool("quiet", false, "share-consume: print counts every 500 ms instead of records")
	_ = sub.Parse(flag.Args()[1:])
	if *topic == "" {
		die("-topic is required")
	}
	switch cmd {
	case "probe":
		probe(*bootstrap)
	case "produce":
		produce(*bootstrap, *topic, *compression, *acks)
	case "consume":
		consume(*bootstrap, *topic, *group, *count, *timeoutMs)
	case "txn-produce":
		txnProduce(*bootstrap, *topic, *txnID, *prefix, *pattern, *perTxn, *partitions, *failTopic)
	case "fault-produce":
		faultProduce(*bootstrap, *topic, *partitions, *rate, *prefix, *maxMs)
	case "txn-pipeline":
		txnPipeline(pipelineArgs{bootstrap: *bootstrap, in: *topic, out: *out, group: *group, txnID: *txnID,
			balancer: *balancer, instanceID: *instanceID, protocol: *protocol, batch: *batch,
			tag: *tag, abortEvery: *abortEvery, txnTimeout: time.Duration(*txnTimeoutMs) * time.Millisecond})
	case "share-raw":
		shareRawSteps(*bootstrap, *topic, *group)
	case "share-raw-v2":
		shareRawV2Steps(*bootstrap, *topic, *group)
	case "share-consume":
		shareConsume(shareArgs{bootstrap: *bootstrap, topic: *topic, group: *group, acts: acts, holdMs: *holdMs,
			runMs: *runMs, renewMs: *renewMs, maxRecords: *maxRecords, quiet: *quiet})
	default:
		die("unknown command %q", cmd)
	}
}

func produce(bootstrap, topic, compression, acks string) {
	var records []*kgo.Record
	manual := false
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 64<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var in inRecord
		if err := json.Unmarshal(line, &in); err != nil {
			die("bad input line: %v", err)
		}
		r := &kgo.Record{Topic: topic, Key: b64dec(in.Key), Value: b64dec(in.Value)}
		for _, h := range in.Headers {
			if h[0] == nil {
				die("header name must not be null")
			}
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: *h[0], Value: b64dec(h[1])})
		}
		if in.Timestamp != nil {
			r.Timestamp = time.UnixMilli(*in.Timestamp)
		}
		if in.Partition != nil {
			r.Partition = *in.Partition
			manual = true
		}
		records = append(records, r)
	}
	if err := sc.Err(); err != nil {
		die("reading stdin: %v", err)
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(bootstrap),
		kgo.DisableIdempotentWrite(),
		kgo.AllowAutoTopicCreation(),
		kgo.ProducerBatchCompression(codec(compression)),
		kgo.ProducerBatchMaxBytes(16 << 20),
		kgo.MaxBufferedRecords(1 << 20),
	}
	switch acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	default:
		die("bad acks %q", acks)
	}
	if manual {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl := newClient(opts)
	// No cl.Close(): every record's promise has run before we print, and Close can
	// linger for seconds after producing to a new topic; exiting closes the sockets.
	type result struct {
		Partition *int32  `json:"partition,omitempty"`
		Offset    *int64  `json:"offset,omitempty"`
		Error     *string `json:"error,omitempty"`
	}
	results := make([]result, len(records))
	ctx, cancel := context.WithTimeout(context.Background(), produceTimeout())
	defer cancel()
	done := make(chan struct{}, len(records))
	for i, r := range records {
		i := i
		if i == 1 {
			// Wait for the first record before sending the rest: with a topic that does
			// not exist yet, franz-go otherwise idles ~5s before producing the backlog.
			<-done
			done <- struct{}{}
		}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				s := err.Error()
				results[i] = result{Error: &s}
			} else {
				p, o := r.Partition, r.Offset
				results[i] = result{Partition: &p, Offset: &o}
			}
			done <- struct{}{}
		})
	}
	for range records {
		<-done
	}
	enc := json.NewEncoder(os.Stdout)
	for _, r := range results {
		_ = enc.Encode(r)
	}
}

func consume(bootstrap, topic, group string, count, timeoutMs int) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(bootstrap),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(64 << 20),
		kgo.FetchMaxPartitionBytes(16 << 20),
	}
	if group != "" {
		// franz-go's default balancer is cooperative-sticky; autocommit is on,
		// and Close commits what was polled.
		opts = append(opts, kgo.ConsumerGroup(group))
	}
	cl := newClient(opts)
	defer cl.Close()
	enc := json.NewEncoder(os.Stdout)
	deadline := time.Now().Add(time.Duration(timeoutMs) * time.Millisecond)
	n := 0
	for n < count && time.Now().Before(deadline) {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		fetches := cl.PollFetches(ctx)
		cancel()
		for _, fe := range fetches.Errors() {
			if fe.Err == context.DeadlineExceeded || fe.Err == context.Canceled {
				continue
			}
			fmt.Fprintf(os.Stderr, "fetch error %s/%d: %v\n", fe.Topic, fe.Partition, fe.Err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			out := outRecord{
				Partition: r.Partition,
				Offset:    r.Offset,
				Timestamp: r.Timestamp.UnixMilli(),
				Key:       b64enc(r.Key),
				Value:     b64enc(r.Value),
				Headers:   [][2]*string{},
			}
			for _, h := range r.Headers {
				name := h.Key
				out.Headers = append(out.Headers, [2]*string{&name, b64enc(h.Value)})
			}
			_ = enc.Encode(out)
			n++
		})
	}
	if group != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "commit: %v\n", err)
			_ = enc.Encode(map[string]any{"error": err.Error()})
		}
		cancel()
	}
	_ = enc.Encode(map[string]any{"done": true, "count": n})
}

func txnProduce(bootstrap, topic, txnID, prefix, pattern string, perTxn, partitions int, failTopic string) {
	if txnID == "" {
		die("-txn-id is required")
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(bootstrap),
		kgo.TransactionalID(txnID),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5 * time.Millisecond),
	}
	if partitions > 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl := newClient(opts)
	defer cl.Close()
	enc := json.NewEncoder(os.Stdout)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// franz-go initialises the producer ID (InitProducerId) lazily; do it up front
	if _, _, err := cl.ProducerID(ctx); err != nil {
		_ = enc.Encode(map[string]any{"init": false, "error": err.Error()})
		os.Exit(1)
	}
	_ = enc.Encode(map[string]any{"init": true})
	counts := map[string]int{"committed": 0, "aborted": 0, "unknown": 0}
	end := func(txn, outcome string, err error) {
		counts[outcome]++
		o := map[string]any{"txn": txn, "outcome": outcome}
		if err != nil {
			o["error"] = err.Error()
		}
		_ = enc.Encode(o)
	}
	for i, kind := range pattern {
		txn := fmt.Sprintf("%s-t%d", prefix, i)
		values := make([]string, perTxn)
		records := make([]*kgo.Record, perTxn)
		for j := range values {
			values[j] = fmt.Sprintf("%s-r%d", txn, j)
			records[j] = &kgo.Record{Topic: topic, Key: []byte(values[j]), Value: []byte(values[j])}
			if kind == 'F' {
				records[j].Topic = failTopic
				records[j].Value = append([]byte(values[j]+":"), make([]byte, 1024)...)
			}
			if partitions > 0 {
				records[j].Partition = int32(j % partitions)
			}
		}
		if err := cl.BeginTransaction(); err != nil {
			end(txn, "aborted", err)
			break
		}
		_ = enc.Encode(map[string]any{"txn": txn, "begin": true, "values": values})
		results := cl.ProduceSync(ctx, records...)
		if kind == 'F' {
			if err := results.FirstErr(); err == nil {
				die("records to %s were not refused", failTopic)
			}
			_ = enc.Encode(map[string]any{"txn": txn, "produce_failed": true})
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				end(txn, "aborted", err)
				break
			}
			end(txn, "aborted", nil)
			continue
		}
		if err := results.FirstErr(); err != nil {
			_ = cl.EndTransaction(ctx, kgo.TryAbort)
			end(txn, "aborted", err)
			break
		}
		for _, r := range results {
			_ = enc.Encode(map[string]any{"txn": txn, "value": string(r.Record.Value),
				"partition": r.Record.Partition, "offset": r.Record.Offset})
		}
		if kind == 'C' {
			_ = enc.Encode(map[string]any{"txn": txn, "committing": true})
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				end(txn, "unknown", err)
				break
			}
			end(txn, "committed", nil)
		} else {
			if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
				end(txn, "aborted", err)
				break
			}
			end(txn, "aborted", nil)
		}
	}
	_ = enc.Encode(map[string]any{"done": true, "committed": counts["committed"],
		"aborted": counts["aborted"], "unknown": counts["unknown"]})
}
