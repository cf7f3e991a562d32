// kafkajs driver for the compat suite. Prints one JSON object per line.
//
//   node compat.js BOOTSTRAP produce TOPIC [--compression none|gzip|snappy] [--acks -1|1|0]
//       stdin: JSON lines {"key": b64|null, "value": b64|null, "headers": [[name, b64], ...],
//       "timestamp": ms|null, "partition": int|null}. One producer.send() for all records.
//       Prints per record, in input order: {"partition":P,"offset":O} (offset = the partition's
//       baseOffset + the record's index within that partition in the request), or
//       {"error":"..."} for every record when the send fails.
//   node compat.js BOOTSTRAP consume TOPIC COUNT TIMEOUT_MS
//       kafkajs has no group-less consumer and Gregor has no consumer groups yet, so this uses
//       kafkajs's own cluster/broker layer (its Metadata, ListOffsets and Fetch requests and
//       its RecordBatch decoder): earliest offset per partition, then Fetch until COUNT
//       records or timeout. Prints {"partition","offset","timestamp","key","value","headers"}
//       (headers [[name, b64], ...], duplicate names kept in order), then {"done":true,"count":N}.
//
//   node compat.js BOOTSTRAP group-consume TOPIC GROUP COUNT TIMEOUT_MS
//       kafkajs's ordinary consumer: joins GROUP, subscribes fromBeginning, reads until COUNT
//       records or timeout with auto-commit, then disconnects (committing). Prints the same
//       record objects as consume, then {"done":true,"count":N}.
//
// The producer is created with allowAutoTopicCreation: true and idempotent: false.
'use strict'

const readline = require('readline')
const { Kafka, CompressionTypes, CompressionCodecs, Partitioners, logLevel } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec

const out = obj => process.stdout.write(JSON.stringify(obj) + '\n')
const unb64 = s => (s === null || s === undefined ? null : Buffer.from(s, 'base64'))
const b64 = b => (b === null || b === undefined ? null : Buffer.from(b).toString('base64'))

// COMPAT_SECURITY (JSON, as compat/go/security.go): {"protocol": "SSL"|"SASL_PLAINTEXT"|
// "SASL_SSL", "ca", "cert", "key" (PEM files), "mechanism": "PLAIN"|"SCRAM-SHA-256"|
// "SCRAM-SHA-512", "username", "password"}; unset means PLAINTEXT. Node verifies the
// server's hostname against its certificate by default.
function securityOptions() {
  const raw = process.env.COMPAT_SECURITY
  if (!raw) return {}
  const sc = JSON.parse(raw)
  const fs = require('fs')
  const opts = {}
  if (sc.protocol === 'SSL' || sc.protocol === 'SASL_SSL') {
    opts.ssl = { rejectUnauthorized: true }
    if (sc.ca) opts.ssl.ca = [fs.readFileSync(sc.ca)]
    if (sc.cert) opts.ssl.cert = fs.readFileSync(sc.cert)
    if (sc.key) opts.ssl.key = fs.readFileSync(sc.key)
  }
  if (sc.protocol === 'SASL_PLAINTEXT' || sc.protocol === 'SASL_SSL') {
    opts.sasl = { mechanism: sc.mechanism.toLowerCase(), username: sc.username, password: sc.password }
  }
  return opts
}

function kafkaFor(bootstrap) {
  return new Kafka({
    ...securityOptions(),
    clientId: 'gregor-compat-kafkajs',
    brokers: [bootstrap],
    logLevel: logLevel.ERROR,
    logCreator: () => ({ level, log }) =>
      process.stderr.write(`kafkajs ${level} ${JSON.stringify(log)}\n`),
    retry: { retries: 5, initialRetryTime: 200 },
    requestTimeout: 20000,
  })
}

async function readStdinLines() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
  const lines = []
  for await (const line of rl) {
    if (line.trim() !== '') lines.push(JSON.parse(line))
  }
  return lines
}

async function produce(bootstrap, topic, opts) {
  const inputs = await readStdinLines()
  const codec = {
    none: CompressionTypes.None,
    gzip: CompressionTypes.GZIP,
    snappy: CompressionTypes.Snappy,
  }[opts.compression || 'none']
  if (codec === undefined) throw new Error(`unsupported compression ${opts.compression}`)
  const messages = inputs.map(r => {
    const m = { key: unb64(r.key), value: unb64(r.value) }
    if (r.headers && r.headers.length) {
      m.headers = {}
      for (const [name, v] of r.headers) {
        const val = unb64(v)
        if (name in m.headers) {
          const prev = m.headers[name]
          m.headers[name] = Array.isArray(prev) ? prev.concat([val]) : [prev, val]
        } else {
          m.headers[name] = val
        }
      }
    }
    if (r.timestamp !== null && r.timestamp !== undefined) m.timestamp = String(r.timestamp)
    if (r.partition !== null && r.partition !== undefined) m.partition = r.partition
    return m
  })
  const kafka = kafkaFor(bootstrap)
  const producer = kafka.producer({ allowAutoTopicCreation: true, idempotent: false })
  await producer.connect()
  try {
    const meta = await producer.send({
      topic,
      messages,
      acks: opts.acks === undefined ? -1 : Number(opts.acks),
      compression: codec,
      timeout: 20000,
    })
    // kafkajs assigns partitions itself when none is given; recompute the same way it
    // does to learn where each message went: it reports one baseOffset per partition.
    const base = {}
    for (const m of meta) base[m.partition] = Number(m.baseOffset)
    const partitionOf = await assignPartitions(kafka, topic, messages, meta)
    const seen = {}
    for (let i = 0; i < messages.length; i++) {
      const p = partitionOf[i]
      if (p === undefined || base[p] === undefined) {
        out({ error: 'partition unknown', partitions: Object.keys(base) })
        continue
      }
      seen[p] = (seen[p] || 0) + 1
      out({ partition: p, offset: base[p] + seen[p] - 1 })
    }
  } catch (e) {
    for (let i = 0; i < messages.length; i++) out({ error: `${e.name}: ${e.message}` })
  } finally {
    await producer.disconnect()
  }
}

// Partition of each message: explicit, or the only partition the send touched, or
// kafkajs's default partitioner (murmur2 of the key, like Java) over the topic's
// partitions when keys are set; null keys spread over several partitions are unknown.
async function assignPartitions(kafka, topic, messages, meta) {
  const touched = meta.map(m => m.partition)
  let partitionMetadata = null
  if (touched.length > 1) {
    const admin = kafka.admin()
    await admin.connect()
    try {
      const md = await admin.fetchTopicMetadata({ topics: [topic] })
      partitionMetadata = md.topics[0].partitions
    } finally {
      await admin.disconnect()
    }
  }
  const partitioner = Partitioners.DefaultPartitioner()
  return messages.map(m => {
    if (m.partition !== undefined) return m.partition
    if (touched.length === 1) return touched[0]
    if (m.key !== null) return partitioner({ topic, partitionMetadata, message: m })
    return undefined
  })
}

function clusterOf(kafka) {
  const sym = Object.getOwnPropertySymbols(kafka).find(
    s => s.description === 'private:Kafka:createCluster'
  )
  if (!sym) throw new Error('kafkajs internals changed: no createCluster')
  return kafka[sym]({ allowAutoTopicCreation: false })
}

function headerList(headers) {
  const list = []
  for (const [name, v] of Object.entries(headers || {})) {
    if (Array.isArray(v)) for (const x of v) list.push([name, b64(x)])
    else list.push([name, b64(v)])
  }
  return list
}

async function consume(bootstrap, topic, count, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  const cluster = clusterOf(kafkaFor(bootstrap))
  await cluster.connect()
  let n = 0
  try {
    await cluster.addTargetTopic(topic)
    await cluster.refreshMetadata()
    const pmeta = cluster.findTopicPartitionMetadata(topic)
    const partitions = pmeta.map(p => ({ partition: p.partitionId }))
    const offsets = await cluster.fetchTopicsOffset([{ topic, fromBeginning: true, partitions }])
    const next = {}
    for (const p of offsets[0].partitions) next[p.partition] = BigInt(p.offset)
    const byLeader = {}
    for (const p of pmeta) (byLeader[p.leader] = byLeader[p.leader] || []).push(p.partitionId)
    while (n < count && Date.now() < deadline) {
      for (const [leader, parts] of Object.entries(byLeader)) {
        const broker = await cluster.findBroker({ nodeId: leader })
        const resp = await broker.fetch({
          replicaId: -1,
          isolationLevel: 0,
          maxWaitTime: 200,
          minBytes: 1,
          maxBytes: 64 << 20,
          topics: [
            {
              topic,
              partitions: parts.map(p => ({
                partition: p,
                fetchOffset: next[p].toString(),
                maxBytes: 16 << 20,
              })),
            },
          ],
        })
        for (const t of resp.responses) {
          for (const p of t.partitions) {
            if (p.errorCode !== 0) {
              process.stderr.write(`fetch error partition ${p.partition}: ${p.errorCode}\n`)
              continue
            }
            for (const m of p.messages) {
              const off = BigInt(m.offset)
              if (off < next[p.partition] || m.isControlRecord) continue
              out({
                partition: p.partition,
                offset: Number(off),
                timestamp: Number(m.timestamp),
                key: b64(m.key),
                value: b64(m.value),
                headers: headerList(m.headers),
              })
              next[p.partition] = off + 1n
              n++
            }
          }
        }
      }
    }
  } finally {
    await cluster.disconnect()
  }
  out({ done: true, count: n })
}

async function groupConsume(bootstrap, topic, group, count, timeoutMs) {
  const consumer = kafkaFor(bootstrap).consumer({ groupId: group, sessionTimeout: 10000, heartbeatInterval: 500 })
  let n = 0
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    let finish
    const finished = new Promise(resolve => (finish = resolve))
    const timer = setTimeout(finish, timeoutMs)
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        if (n >= count) return
        out({
          partition,
          offset: Number(message.offset),
          timestamp: Number(message.timestamp),
          key: b64(message.key),
          value: b64(message.value),
          headers: headerList(message.headers),
        })
        n++
        if (n >= count) finish()
      },
    })
    await finished
    clearTimeout(timer)
  } finally {
    await consumer.disconnect()
  }
  out({ done: true, count: n })
}

async function main() {
  const [bootstrap, cmd, topic, ...rest] = process.argv.slice(2)
  if (cmd === 'produce') {
    const opts = {}
    for (let i = 0; i < rest.length; i += 2) opts[rest[i].replace(/^--/, '')] = rest[i + 1]
    await produce(bootstrap, topic, opts)
  } else if (cmd === 'group-consume') {
    await groupConsume(bootstrap, topic, rest[0], Number(rest[1]), Number(rest[2] || 20000))
  } else if (cmd === 'consume') {
    await consume(bootstrap, topic, Number(rest[0]), Number(rest[1] || 20000))
  } else {
    process.stderr.write('usage: compat.js BOOTSTRAP produce|consume TOPIC ...\n')
    process.exit(2)
  }
}

main().catch(e => {
  process.stderr.write(`${e.stack || e}\n`)
  process.exit(1)
})
