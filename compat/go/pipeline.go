package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

type pipelineArgs struct {
	bootstrap, in, out, group, txnID, balancer, instanceID, protocol string
	batch                                                            int
	// Fault tests (compat/cluster/test_eos.py): tag appends "|tag#<txn>" to every copy so a
	// reader knows which transaction wrote it; abortEvery aborts every Nth transaction on
	// purpose after flushing its copies (in the log, aborted; the session rewinds);
	// txnTimeout is the producer's transaction timeout.
	tag        string
	abortEvery int
	txnTimeout time.Duration
}

// lockedEncoder serialises output lines: group callbacks run on the client's goroutines.
type lockedEncoder struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (e *lockedEncoder) line(v map[string]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	_ = e.enc.Encode(v)
}

// txnPipeline is the exactly-once consume-transform-produce loop that franz-go documents
// for GroupTransactSession; see the usage at the top of main.go.
func txnPipeline(a pipelineArgs) {
	if a.out == "" || a.group == "" || a.txnID == "" {
		die("txn-pipeline needs -out, -group and -txn-id")
	}
	out := &lockedEncoder{enc: json.NewEncoder(os.Stdout)}
	fatal := func(what string, err error) {
		out.line(map[string]any{"error": what + ": " + err.Error()})
		os.Exit(1)
	}
	var assignedMu sync.Mutex
	assigned := map[int32]bool{}
	report := func() {
		ps := make([]int32, 0, len(assigned))
		for p := range assigned {
			ps = append(ps, p)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		out.line(map[string]any{"assigned": ps})
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(strings.Split(a.bootstrap, ",")...),
		kgo.TransactionalID(a.txnID),
		kgo.TransactionTimeout(a.txnTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.ConsumerGroup(a.group),
		kgo.ConsumeTopics(a.in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(10 * time.Second),
		kgo.HeartbeatInterval(500 * time.Millisecond),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			assignedMu.Lock()
			defer assignedMu.Unlock()
			for _, p := range m[a.in] {
				assigned[p] = true
			}
			report()
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			assignedMu.Lock()
			defer assignedMu.Unlock()
			for _, p := range m[a.in] {
				delete(assigned, p)
			}
			report()
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			assignedMu.Lock()
			defer assignedMu.Unlock()
			for _, p := range m[a.in] {
				delete(assigned, p)
			}
			report()
		}),
	}
	switch a.balancer {
	case "range":
		opts = append(opts, kgo.Balancers(kgo.RangeBalancer()))
	case "sticky":
		opts = append(opts, kgo.Balancers(kgo.StickyBalancer()))
	case "cooperative-sticky":
		opts = append(opts, kgo.Balancers(kgo.CooperativeStickyBalancer()))
	default:
		die("unknown balancer %q", a.balancer)
	}
	switch a.protocol {
	case "classic":
	case "consumer":
		opts = append(opts, kgo.ServerSideBalancer())
	default:
		die("unknown protocol %q", a.protocol)
	}
	if a.instanceID != "" {
		opts = append(opts, kgo.InstanceID(a.instanceID))
	}
	if os.Getenv("FRANZ_DEBUG") != "" {
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, nil)))
	}
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		fatal("new session", err)
	}
	// Closing stdin asks for a graceful leave: finish the transaction in hand, then leave the group.
	stop := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	ctx := context.Background()
	txns := 0
	for {
		select {
		case <-stop:
			sess.Close()
			out.line(map[string]any{"done": true, "txns": txns})
			return
		default:
		}
		pollCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fetches := sess.PollRecords(pollCtx, a.batch)
		cancel()
		if fetches.IsClientClosed() {
			fatal("poll", errors.New("client closed"))
		}
		var pollErr error
		fetches.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				pollErr = err
			}
		})
		if pollErr != nil {
			fatal("poll", pollErr)
		}
		if fetches.NumRecords() == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			fatal("begin", err)
		}
		var produceMu sync.Mutex
		var produceErr error
		n := 0
		next := map[string]int64{}
		fetches.EachRecord(func(r *kgo.Record) {
			n++
			value := append([]byte("copy:"), r.Value...)
			if a.tag != "" {
				value = append(value, []byte(fmt.Sprintf("|%s#%d", a.tag, txns))...)
			}
			next[strconv.Itoa(int(r.Partition))] = r.Offset + 1
			rec := &kgo.Record{Topic: a.out, Key: r.Key, Value: value, Partition: r.Partition}
			sess.Produce(ctx, rec, func(_ *kgo.Record, err error) {
				if err != nil {
					produceMu.Lock()
					produceErr = err
					produceMu.Unlock()
				}
			})
		})
		if a.abortEvery > 0 && txns%a.abortEvery == a.abortEvery-1 {
			// the copies reach the log before the abort, so readers could see them if it failed
			if err := sess.Client().Flush(ctx); err != nil {
				fatal("flush", err)
			}
			if _, err := sess.End(ctx, kgo.TryAbort); err != nil {
				fatal("end", err)
			}
			out.line(map[string]any{"txn": txns, "records": n, "committed": false, "reason": "deliberate"})
			txns++
			continue
		}
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			fatal("end", err)
		}
		// A produce error aborts the transaction inside End (committed is false); it is only
		// fatal if the session still claims a commit.
		produceMu.Lock()
		if produceErr != nil && committed {
			fatal("produce", produceErr)
		}
		produceMu.Unlock()
		line := map[string]any{"txn": txns, "records": n, "committed": committed}
		if committed {
			line["offsets"] = next
		}
		out.line(line)
		txns++
	}
}
