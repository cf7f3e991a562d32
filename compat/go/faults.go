package main

// fault-produce: the replication fault tests' idempotent franz-go producer.
//
//	franz-compat -b HOST:PORT fault-produce -topic T -partitions N -rate R -prefix P [-max-ms MS]
//	    sends values P-<seq> (key = value) to partition seq % N at R records/s with
//	    franz-go's defaults for durability (idempotent, acks=all) until stdin closes (or
//	    MS passes), then flushes. Prints, when each record's promise runs:
//	    {"v","seq","p","o","ts","tc"} (acknowledged) or {"v","seq","p","err","ts","tc"}
//	    (failed), wall-clock ms; then {"done":true,"sent":N}. A record with no line had no
//	    outcome (indeterminate).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

type faultLine struct {
	V   string  `json:"v"`
	Seq int64   `json:"seq"`
	P   int32   `json:"p"`
	O   *int64  `json:"o,omitempty"`
	Err *string `json:"err,omitempty"`
	Ts  int64   `json:"ts"`
	Tc  int64   `json:"tc"`
}

func faultProduce(bootstrap, topic string, partitions int, rate float64, prefix string, maxMs int) {
	if partitions <= 0 || rate <= 0 {
		die("fault-produce needs -partitions and -rate")
	}
	cl := newClient([]kgo.Opt{
		kgo.SeedBrokers(strings.Split(bootstrap, ",")...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5 * time.Millisecond),
		// Bounded retries, as the Java producer's delivery.timeout.ms: a record that
		// cannot be written within 30 s fails (its outcome is then unknown).
		kgo.RecordDeliveryTimeout(30 * time.Second),
		kgo.RequestTimeoutOverhead(5 * time.Second),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
	})
	stop := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	var mu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	emit := func(l faultLine) {
		mu.Lock()
		_ = enc.Encode(l)
		mu.Unlock()
	}
	start := time.Now()
	limit := time.Duration(maxMs) * time.Millisecond
	interval := time.Duration(float64(time.Second) / rate)
	next := start
	var seq int64
loop:
	for time.Since(start) < limit {
		select {
		case <-stop:
			break loop
		default:
		}
		now := time.Now()
		if now.Before(next) {
			time.Sleep(next.Sub(now))
			continue
		}
		next = next.Add(interval)
		if next.Before(now) {
			next = now // no burst after a stall
		}
		s := seq
		seq++
		v := fmt.Sprintf("%s-%d", prefix, s)
		part := int32(s % int64(partitions))
		ts := time.Now().UnixMilli()
		r := &kgo.Record{Topic: topic, Partition: part, Key: []byte(v), Value: []byte(v)}
		cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
			l := faultLine{V: v, Seq: s, P: part, Ts: ts, Tc: time.Now().UnixMilli()}
			if err != nil {
				msg := err.Error()
				l.Err = &msg
			} else {
				o := r.Offset
				l.O = &o
			}
			emit(l)
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	if err := cl.Flush(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "flush: %v\n", err)
	}
	cancel()
	mu.Lock()
	_ = enc.Encode(map[string]any{"done": true, "sent": seq})
	mu.Unlock()
}
