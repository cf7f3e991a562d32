package main

// share-raw-v2: scripted raw ShareFetch / ShareAcknowledge v2 requests (kmsg): the acquire
// mode (KIP-1206) and renew acknowledgements (KIP-1222), with the bad input a broker must
// answer with Kafka's error codes.
//
//	franz-compat -b HOST:PORT share-raw-v2 -topic T -group G
//	    T must have one partition holding at least 4 records; G must start at the earliest
//	    offset and have share.record.lock.duration.ms=2000. Joins G (ShareGroupHeartbeat)
//	    until partition 0 is assigned, then prints one line per step:
//	      {"step":NAME,"version":V,"error":NAME,"partitionError":NAME,"ackError":NAME,
//	       "acquired":[[first,last,count]...],"lockMs":MS}
//	    Steps (member A, then B another member id of the same group):
//	      a-fetch-record-limit    A opens its session: v2, record_limit, MaxRecords 1
//	      a-renew-fetch-waits     A: ShareFetch IsRenewAck with MaxWaitMs/MinBytes/... set
//	      a-ack-renew-unflagged   A: ShareAcknowledge v2, type 4 without IsRenewAck
//	      a-ack-renew-v1          A: ShareAcknowledge v1, type 4
//	      a-ack-renew             A renews offset 0, 1.4 s after acquiring it
//	      b-fetch-record-limit    B opens its session: record_limit, MaxRecords 1
//	      b-renew-foreign         B renews A's offset 0
//	      b-fetch-after-lock      2.8 s after A's acquisition (past the 2 s lock, not past the
//	                              renewed one): B fetches up to 10 records
//	      a-renew-fetch           A renews offset 0 with a ShareFetch (IsRenewAck, no limits)
//	      a-ack-accept            A accepts offset 0
//	      a-fetch-bad-mode        A: ShareFetch v2 with ShareAcquireMode 7
//	      a-close, b-close        epoch -1
//	    Exits 1 on a transport error.

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

type v2Step struct {
	Step           string    `json:"step"`
	Version        int16     `json:"version"`
	Error          string    `json:"error"`
	PartitionError string    `json:"partitionError,omitempty"`
	AckError       string    `json:"ackError,omitempty"`
	Acquired       [][]int64 `json:"acquired,omitempty"`
	LockMs         int32     `json:"lockMs,omitempty"`
}

// v2Member is one member id's share session: its epoch moves on with every request the
// session accepted (no top-level error).
type v2Member struct {
	raw   *shareRaw
	id    string
	epoch int32
}

type v2Fetch struct {
	mode       int8
	maxRecords int32
	maxWaitMs  int32
	renew      bool
	ack        []int8 // acknowledge offset 0 with these types
}

func (m *v2Member) fetch(name string, f v2Fetch) v2Step {
	req := kmsg.NewPtrShareFetchRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &m.raw.group, &m.id, m.epoch
	req.ShareAcquireMode, req.IsRenewAck = f.mode, f.renew
	req.MaxWaitMillis, req.MaxRecords, req.BatchSize = f.maxWaitMs, f.maxRecords, f.maxRecords
	// MaxBytes defaults to 0x7fffffff in kmsg (the schema's default): a renewing fetch
	// must say 0.
	req.MinBytes, req.MaxBytes = 0, 0
	if f.maxRecords > 0 {
		req.MinBytes, req.MaxBytes = 1, 1<<20
	}
	t := kmsg.NewShareFetchRequestTopic()
	t.TopicID = m.raw.topicID
	p := kmsg.NewShareFetchRequestTopicPartition()
	if f.ack != nil {
		b := kmsg.NewShareFetchRequestTopicPartitionAcknowledgementBatch()
		b.FirstOffset, b.LastOffset, b.AcknowledgeTypes = 0, 0, f.ack
		p.AcknowledgementBatches = append(p.AcknowledgementBatches, b)
	}
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	resp := m.raw.req(req).(*kmsg.ShareFetchResponse)
	s := v2Step{Step: name, Version: req.GetVersion(), Error: errNameOf(resp.ErrorCode)}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			s.PartitionError = errNameOf(p.ErrorCode)
			s.AckError = errNameOf(p.AcknowledgeErrorCode)
			for _, a := range p.AcquiredRecords {
				s.Acquired = append(s.Acquired, []int64{a.FirstOffset, a.LastOffset, int64(a.DeliveryCount)})
			}
		}
	}
	if resp.ErrorCode == 0 {
		m.epoch++
	}
	return s
}

// ack acknowledges offset 0 with `ackType` over `raw`'s client (whose version it negotiates).
func (m *v2Member) ack(name string, raw *shareRaw, ackType int8, renew bool) v2Step {
	req := kmsg.NewPtrShareAcknowledgeRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &m.raw.group, &m.id, m.epoch
	req.IsRenewAck = renew
	t := kmsg.NewShareAcknowledgeRequestTopic()
	t.TopicID = m.raw.topicID
	p := kmsg.NewShareAcknowledgeRequestTopicPartition()
	b := kmsg.NewShareAcknowledgeRequestTopicPartitionAcknowledgementBatch()
	b.FirstOffset, b.LastOffset, b.AcknowledgeTypes = 0, 0, []int8{ackType}
	p.AcknowledgementBatches = append(p.AcknowledgementBatches, b)
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	resp := raw.req(req).(*kmsg.ShareAcknowledgeResponse)
	s := v2Step{Step: name, Version: req.GetVersion(), Error: errNameOf(resp.ErrorCode), LockMs: resp.AcquisitionLockTimeoutMillis}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			s.PartitionError = errNameOf(p.ErrorCode)
		}
	}
	if resp.ErrorCode == 0 {
		m.epoch++
	}
	return s
}

func emitV2(s v2Step) {
	b, _ := json.Marshal(s)
	fmt.Println(string(b))
}

func shareRawV2Steps(bootstrap, topic, group string) {
	cl := newClient([]kgo.Opt{kgo.SeedBrokers(bootstrap)})
	defer cl.Close()
	r := &shareRaw{cl: cl, group: group}
	// The same requests capped at v1, as a client that knows only v1 sends them.
	v1 := kversion.Stable()
	v1.SetMaxKeyVersion(78, 1)
	v1.SetMaxKeyVersion(79, 1)
	cl1 := newClient([]kgo.Opt{kgo.SeedBrokers(bootstrap), kgo.MaxVersions(v1)})
	defer cl1.Close()
	r1 := &shareRaw{cl: cl1, group: group}

	r.topicID = topicIDOf(r, topic)
	r1.topicID = r.topicID
	joinShareGroup(r, topic)
	emitV2(v2Step{Step: "joined", Error: "NONE"})

	a := &v2Member{raw: r, id: newMemberID()}
	b := &v2Member{raw: r, id: newMemberID()}
	acquired := time.Now()
	emitV2(a.fetch("a-fetch-record-limit", v2Fetch{mode: 1, maxRecords: 1, maxWaitMs: 2000}))
	emitV2(a.fetch("a-renew-fetch-waits", v2Fetch{mode: 1, maxWaitMs: 500, renew: true, ack: []int8{4}}))
	emitV2(a.ack("a-ack-renew-unflagged", r, 4, false))
	emitV2(a.ack("a-ack-renew-v1", r1, 4, false))
	time.Sleep(time.Until(acquired.Add(1400 * time.Millisecond)))
	emitV2(a.ack("a-ack-renew", r, 4, true))
	emitV2(b.fetch("b-fetch-record-limit", v2Fetch{mode: 1, maxRecords: 1, maxWaitMs: 2000}))
	emitV2(b.ack("b-renew-foreign", r, 4, true))
	time.Sleep(time.Until(acquired.Add(2800 * time.Millisecond)))
	emitV2(b.fetch("b-fetch-after-lock", v2Fetch{mode: 1, maxRecords: 10, maxWaitMs: 500}))
	emitV2(a.fetch("a-renew-fetch", v2Fetch{renew: true, ack: []int8{4}}))
	emitV2(a.ack("a-ack-accept", r, 1, false))
	emitV2(a.fetch("a-fetch-bad-mode", v2Fetch{mode: 7, maxRecords: 10, maxWaitMs: 100}))
	a.epoch = -1
	emitV2(a.fetch("a-close", v2Fetch{}))
	b.epoch = -1
	emitV2(b.fetch("b-close", v2Fetch{}))
}
