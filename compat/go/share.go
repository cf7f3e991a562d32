package main

// share-consume: a franz-go share-group (KIP-932) member, the Go twin of the Java driver's
// share-consume (compat/java/ShareModes.java); both print the same lines.
//
//	franz-compat -b HOST:PORT share-consume -topic T -group G [-act VALUE[@N]=ACTION ...]
//	        [-hold-ms MS] [-renew-ms MS] [-quiet] [-run-ms MS] [-max-records N]
//	    joins share group G (kgo.ShareGroup) subscribed to T and polls until stdin closes
//	    (or MS passes). Every record is acknowledged explicitly with Record.Ack: the action
//	    for a record whose value is VALUE is ACTION (accept | release | reject | hold | renew), with
//	    @N only on its N-th delivery; every other record is accepted. Acks are flushed
//	    (Client.FlushAcks) after each poll. "hold" leaves the record unacknowledged for
//	    -hold-ms without polling, then accepts it late (refused by the broker once the
//	    record's lock has expired). "renew" (KIP-1222) keeps the record without polling
//	    for -hold-ms, acknowledging it with kgo.AckRenew (and flushing) every -renew-ms
//	    (default 1000; a record line with ack "renew" each time), then accepts it (franz-go
//	    would auto-accept a renewed record at the next poll). Prints
//	      {"ready":true,"t":MS}                                  client created, before the first poll
//	      {"partition","offset","deliveryCount","key","value","ack"}   per record (base64 key/value)
//	      {"commit":{"P":"ok"|ERROR},"late":BOOL}               the broker's per-partition ack results
//	                                                             (kgo.ShareAckCallback; ERROR is the
//	                                                             Kafka error name, e.g. INVALID_RECORD_STATE)
//	      {"pollErr":"...","msg":"..."}                          a fetch error (the member goes on)
//	      {"count":N,"t":MS}                                     every 500 ms with -quiet (no record lines)
//	    then, after leaving the group, {"done":true,"count":N}.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// actFlags collects the repeatable -act VALUE[@N]=ACTION rules.
type actFlags []string

func (a *actFlags) String() string { return strings.Join(*a, ",") }

func (a *actFlags) Set(v string) error {
	eq := strings.LastIndexByte(v, '=')
	if eq < 0 {
		return fmt.Errorf("-act wants VALUE[@N]=ACTION, got %q", v)
	}
	switch v[eq+1:] {
	case "accept", "release", "reject", "hold", "renew":
	default:
		return fmt.Errorf("unknown action %q", v[eq+1:])
	}
	*a = append(*a, v)
	return nil
}

type shareRules struct {
	always     map[string]string
	onDelivery map[string]string
}

func newShareRules(acts actFlags) shareRules {
	r := shareRules{always: map[string]string{}, onDelivery: map[string]string{}}
	for _, a := range acts {
		eq := strings.LastIndexByte(a, '=')
		what, action := a[:eq], a[eq+1:]
		if strings.LastIndexByte(what, '@') >= 0 {
			r.onDelivery[what] = action
		} else {
			r.always[what] = action
		}
	}
	return r
}

func (r shareRules) actionFor(value []byte, delivery int32) string {
	v := string(value)
	if a, ok := r.onDelivery[v+"@"+strconv.Itoa(int(delivery))]; ok {
		return a
	}
	if a, ok := r.always[v]; ok {
		return a
	}
	return "accept"
}

func ackStatus(action string) kgo.AckStatus {
	switch action {
	case "release":
		return kgo.AckRelease
	case "reject":
		return kgo.AckReject
	}
	return kgo.AckAccept
}

type shareArgs struct {
	bootstrap, topic, group string
	acts                    actFlags
	holdMs, runMs, renewMs  int
	maxRecords              int
	quiet                   bool
}

type shareRecordLine struct {
	Partition     int32   `json:"partition"`
	Offset        int64   `json:"offset"`
	DeliveryCount int32   `json:"deliveryCount"`
	Key           *string `json:"key"`
	Value         *string `json:"value"`
	Ack           string  `json:"ack"`
}

// errName is the Kafka error name of an ack failure (as the Java driver prints its exception class).
func errName(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return err.Error()
}

func shareConsume(a shareArgs) {
	if a.group == "" {
		die("share-consume needs -group")
	}
	rules := newShareRules(a.acts)
	var outMu sync.Mutex
	emit := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			die("json: %v", err)
		}
		outMu.Lock()
		fmt.Println(string(b))
		outMu.Unlock()
	}
	// Set around the late flush of held records, so their results are told apart.
	var late atomic.Bool
	opts := []kgo.Opt{
		kgo.SeedBrokers(a.bootstrap),
		kgo.ShareGroup(a.group),
		kgo.ConsumeTopics(a.topic),
		kgo.ShareAckCallback(func(_ *kgo.Client, res kgo.ShareAckResults) {
			parts := map[string]string{}
			for _, r := range res {
				if r.Topic != a.topic {
					continue
				}
				outcome := "ok"
				if r.Err != nil {
					outcome = errName(r.Err)
				}
				parts[strconv.Itoa(int(r.Partition))] = outcome
			}
			if len(parts) > 0 {
				emit(map[string]any{"commit": parts, "late": late.Load()})
			}
		}),
	}
	if a.maxRecords > 0 {
		opts = append(opts, kgo.ShareMaxRecords(int32(a.maxRecords)))
	}
	cl := newClient(opts)

	var stop atomic.Bool
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop.Store(true)
	}()
	deadline := time.Now().Add(time.Duration(a.runMs) * time.Millisecond)
	emit(map[string]any{"ready": true, "t": time.Now().UnixMilli()})
	n := 0
	lastCount := time.Now()
	for !stop.Load() && (a.runMs <= 0 || time.Now().Before(deadline)) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fetches := cl.PollRecords(ctx, a.maxRecords)
		cancel()
		fetches.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				emit(map[string]any{"pollErr": fmt.Sprintf("%T", err), "msg": err.Error()})
			}
		})
		var held, renewing []*kgo.Record
		fetches.EachRecord(func(r *kgo.Record) {
			action := rules.actionFor(r.Value, r.DeliveryCount())
			if action == "hold" {
				held = append(held, r)
			} else if action == "renew" {
				renewing = append(renewing, r)
				return // its lines are printed as it is renewed
			} else {
				r.Ack(ackStatus(action))
			}
			n++
			if !a.quiet {
				emit(shareRecordLine{r.Partition, r.Offset, r.DeliveryCount(), b64enc(r.Key), b64enc(r.Value), action})
			}
		})
		if fetches.NumRecords() > 0 {
			flushAcks(cl)
		}
		if len(renewing) > 0 {
			until := time.Now().Add(time.Duration(a.holdMs) * time.Millisecond)
			for !stop.Load() && time.Now().Before(until) {
				for _, r := range renewing {
					r.Ack(kgo.AckRenew)
					emit(shareRecordLine{r.Partition, r.Offset, r.DeliveryCount(), b64enc(r.Key), b64enc(r.Value), "renew"})
				}
				flushAcks(cl)
				next := time.Now().Add(time.Duration(a.renewMs) * time.Millisecond)
				for !stop.Load() && time.Now().Before(next) && time.Now().Before(until) {
					time.Sleep(50 * time.Millisecond)
				}
			}
			for _, r := range renewing {
				r.Ack(kgo.AckAccept)
				emit(shareRecordLine{r.Partition, r.Offset, r.DeliveryCount(), b64enc(r.Key), b64enc(r.Value), "accept"})
			}
			flushAcks(cl)
		}
		if len(held) > 0 {
			until := time.Now().Add(time.Duration(a.holdMs) * time.Millisecond)
			for !stop.Load() && time.Now().Before(until) {
				time.Sleep(50 * time.Millisecond)
			}
			late.Store(true)
			for _, r := range held {
				r.Ack(kgo.AckAccept)
			}
			flushAcks(cl)
			late.Store(false)
		}
		if a.quiet && time.Since(lastCount) >= 500*time.Millisecond {
			lastCount = time.Now()
			emit(map[string]any{"count": n, "t": lastCount.UnixMilli()})
		}
	}
	cl.Close()
	emit(map[string]any{"done": true, "count": n})
}

func flushAcks(cl *kgo.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.FlushAcks(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "franz-compat: flush acks: %v\n", err)
	}
}
