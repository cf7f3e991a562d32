package main

// share-raw: scripted raw share-group requests (kmsg) with bad input, for the error codes a
// broker answers: the steps a well-behaved client never takes.
//
//	franz-compat -b HOST:PORT share-raw -topic T -group G
//	    T must have one partition holding at least 4 records, and G must start at the earliest
//	    offset (share.auto.offset.reset=earliest). Joins G with ShareGroupHeartbeat (a client-made
//	    member id, as KIP-932 clients do) and heartbeats until partition 0 of T is assigned, then
//	    runs the steps below, printing one line per step:
//	      {"step":NAME,"error":KAFKA_ERROR_NAME|"NONE"[,"partitionError":NAME][,"acquired":[[first,last,count]...]]}
//	    (Kafka error names as franz-go's kerr spells them, e.g. SHARE_SESSION_NOT_FOUND).
//	    Steps: hb-unknown-member, hb-fenced-epoch, fetch-no-session (epoch 3, no session yet),
//	    ack-no-session, fetch-open (epoch 0: opens the session and acquires), fetch-bad-epoch
//	    (epoch 7), ack-epoch-0 (ShareAcknowledge cannot open a session), fetch-other-member
//	    (another member id's first ShareFetch: nothing left to acquire), ack-foreign (that
//	    member acknowledges the first one's records), ack-out-of-range (offsets 1000-1001,
//	    never fetched), ack-bad-type (type 9), ack-accept (the acquired records), ack-again
//	    (the same records again), fetch-close (epoch -1), hb-leave (epoch -1). Exits 1 on a
//	    transport error.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func errNameOf(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if ke, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return ke.Message
	}
	return fmt.Sprintf("CODE_%d", code)
}

// newMemberID is a random UUID in Kafka's URL-safe base64 form, as share consumers make them.
func newMemberID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		die("random: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

type rawStep struct {
	Step           string    `json:"step"`
	Error          string    `json:"error"`
	PartitionError string    `json:"partitionError,omitempty"`
	Acquired       [][]int64 `json:"acquired,omitempty"`
}

func emitStep(s rawStep) {
	b, _ := json.Marshal(s)
	fmt.Println(string(b))
}

type shareRaw struct {
	cl      *kgo.Client
	group   string
	topicID [16]byte
}

func (r *shareRaw) req(m kmsg.Request) kmsg.Response {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := r.cl.Request(ctx, m)
	if err != nil {
		fmt.Fprintf(os.Stderr, "franz-compat: %T: %v\n", m, err)
		os.Exit(1)
	}
	return resp
}

func (r *shareRaw) heartbeat(member string, epoch int32, topics []string) *kmsg.ShareGroupHeartbeatResponse {
	hb := kmsg.NewPtrShareGroupHeartbeatRequest()
	hb.GroupID, hb.MemberID, hb.MemberEpoch, hb.SubscribedTopicNames = r.group, member, epoch, topics
	return r.req(hb).(*kmsg.ShareGroupHeartbeatResponse)
}

func (r *shareRaw) fetch(member string, epoch int32, withPartition bool) *kmsg.ShareFetchResponse {
	f := kmsg.NewPtrShareFetchRequest()
	f.GroupID, f.MemberID, f.ShareSessionEpoch = &r.group, &member, epoch
	f.MaxWaitMillis, f.MinBytes, f.MaxBytes, f.MaxRecords, f.BatchSize = 2000, 1, 1<<20, 100, 100
	if withPartition {
		t := kmsg.NewShareFetchRequestTopic()
		t.TopicID = r.topicID
		p := kmsg.NewShareFetchRequestTopicPartition()
		p.Partition, p.PartitionMaxBytes = 0, 1<<20
		t.Partitions = append(t.Partitions, p)
		f.Topics = append(f.Topics, t)
	}
	return r.req(f).(*kmsg.ShareFetchResponse)
}

func (r *shareRaw) ack(member string, epoch int32, first, last int64, ackType int8) *kmsg.ShareAcknowledgeResponse {
	a := kmsg.NewPtrShareAcknowledgeRequest()
	a.GroupID, a.MemberID, a.ShareSessionEpoch = &r.group, &member, epoch
	t := kmsg.NewShareAcknowledgeRequestTopic()
	t.TopicID = r.topicID
	p := kmsg.NewShareAcknowledgeRequestTopicPartition()
	b := kmsg.NewShareAcknowledgeRequestTopicPartitionAcknowledgementBatch()
	b.FirstOffset, b.LastOffset, b.AcknowledgeTypes = first, last, []int8{ackType}
	p.AcknowledgementBatches = append(p.AcknowledgementBatches, b)
	t.Partitions = append(t.Partitions, p)
	a.Topics = append(a.Topics, t)
	return r.req(a).(*kmsg.ShareAcknowledgeResponse)
}

func fetchStep(name string, resp *kmsg.ShareFetchResponse) rawStep {
	s := rawStep{Step: name, Error: errNameOf(resp.ErrorCode)}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			s.PartitionError = errNameOf(p.ErrorCode)
			for _, a := range p.AcquiredRecords {
				s.Acquired = append(s.Acquired, []int64{a.FirstOffset, a.LastOffset, int64(a.DeliveryCount)})
			}
		}
	}
	return s
}

func ackStep(name string, resp *kmsg.ShareAcknowledgeResponse) rawStep {
	s := rawStep{Step: name, Error: errNameOf(resp.ErrorCode)}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			s.PartitionError = errNameOf(p.ErrorCode)
		}
	}
	return s
}

func shareRawSteps(bootstrap, topic, group string) {
	cl := newClient([]kgo.Opt{kgo.SeedBrokers(bootstrap)})
	defer cl.Close()
	r := &shareRaw{cl: cl, group: group}

	r.topicID = topicIDOf(r, topic)
	member, epoch := joinShareGroup(r, topic)
	emitStep(rawStep{Step: "joined", Error: "NONE"})

	emitStep(rawStep{Step: "hb-unknown-member", Error: errNameOf(r.heartbeat(newMemberID(), 3, nil).ErrorCode)})
	emitStep(rawStep{Step: "hb-fenced-epoch", Error: errNameOf(r.heartbeat(member, epoch+5, nil).ErrorCode)})

	emitStep(fetchStep("fetch-no-session", r.fetch(member, 3, true)))
	emitStep(ackStep("ack-no-session", r.ack(member, 1, 0, 0, 1)))

	open := fetchStep("fetch-open", r.fetch(member, 0, true))
	emitStep(open)
	if len(open.Acquired) == 0 {
		die("fetch-open acquired nothing")
	}
	first, last := open.Acquired[0][0], open.Acquired[len(open.Acquired)-1][1]

	// The session's next epoch is 1; it moves on only with a request the session accepted
	// (no top-level error).
	sessionEpoch := int32(1)
	acked := func(name string, first, last int64, ackType int8) {
		step := ackStep(name, r.ack(member, sessionEpoch, first, last, ackType))
		if step.Error == "NONE" {
			sessionEpoch++
		}
		emitStep(step)
	}
	emitStep(fetchStep("fetch-bad-epoch", r.fetch(member, 7, false)))
	emitStep(ackStep("ack-epoch-0", r.ack(member, 0, first, last, 1)))
	// Another member id's session: Kafka does not check membership on ShareFetch; the records
	// are all acquired by the first member, so it gets none, and may not acknowledge them.
	other := newMemberID()
	emitStep(fetchStep("fetch-other-member", r.fetch(other, 0, true)))
	emitStep(ackStep("ack-foreign", r.ack(other, 1, first, last, 1)))
	acked("ack-out-of-range", 1000, 1001, 1)
	acked("ack-bad-type", first, last, 9)
	acked("ack-accept", first, last, 1)
	acked("ack-again", first, last, 1)

	emitStep(fetchStep("fetch-close", r.fetch(member, -1, false)))
	emitStep(rawStep{Step: "hb-leave", Error: errNameOf(r.heartbeat(member, -1, nil).ErrorCode)})
}

// topicIDOf is the id of `topic` (which must exist), from Metadata.
func topicIDOf(r *shareRaw, topic string) [16]byte {
	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	md.Topics = append(md.Topics, mt)
	mresp := r.req(md).(*kmsg.MetadataResponse)
	if len(mresp.Topics) != 1 || mresp.Topics[0].ErrorCode != 0 {
		die("metadata for %s: %+v", topic, mresp.Topics)
	}
	return mresp.Topics[0].TopicID
}

// joinShareGroup heartbeats a new member into r's group until it is assigned a partition
// of `topic`; returns its member id and epoch.
func joinShareGroup(r *shareRaw, topic string) (string, int32) {
	member := newMemberID()
	var epoch int32
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp := r.heartbeat(member, epoch, []string{topic})
		if resp.ErrorCode != 0 {
			die("join: %s", errNameOf(resp.ErrorCode))
		}
		epoch = resp.MemberEpoch
		if resp.Assignment != nil && len(resp.Assignment.TopicPartitions) > 0 {
			return member, epoch
		}
		if time.Now().After(deadline) {
			die("no assignment within 30s")
		}
		time.Sleep(500 * time.Millisecond)
	}
}
